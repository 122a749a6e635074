// Consumes QUEUE with a Consumer of 2 workers until COUNT items are acked (or 10 s pass), and
// prints how many it acked. Items whose data ends in "-fail" are nacked once, then acked.
//   saker-example-worker HOST:PORT QUEUE COUNT
#include <saker/client.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s HOST:PORT QUEUE COUNT\n", argv[0]);
    return 2;
  }
  saker::client::ConsumerOptions options;
  options.client.servers = {argv[1]};
  options.queue = argv[2];
  options.workers = 2;
  options.wait = std::chrono::milliseconds(100);
  options.nack_backoff_min = std::chrono::milliseconds(10);
  int count = std::atoi(argv[3]);
  saker::client::Consumer consumer(options, [](const saker::client::Item& item) {
    bool fail = item.data.ends_with("-fail") && item.delivery_count == 1;
    return fail ? saker::client::Disposition::kNack : saker::client::Disposition::kAck;
  });
  consumer.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (consumer.acked() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  consumer.Stop();
  std::printf("acked %lld nacked %lld\n", static_cast<long long>(consumer.acked()),
              static_cast<long long>(consumer.nacked()));
  return consumer.acked() >= count ? 0 : 1;
}
