// Puts COUNT items "item-0" .. into QUEUE, in batches of 10, and prints the last offset.
//   saker-example-producer HOST:PORT QUEUE COUNT
#include <saker/client.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s HOST:PORT QUEUE COUNT\n", argv[0]);
    return 2;
  }
  saker::client::Options options;
  options.servers = {argv[1]};
  saker::client::Client client(options);
  int count = std::atoi(argv[3]);
  int64_t last = -1;
  for (int i = 0; i < count;) {
    std::vector<saker::client::PutItem> batch;
    for (; i < count && batch.size() < 10; ++i) batch.push_back({"item-" + std::to_string(i)});
    auto put = client.Put(argv[2], batch);
    if (!put.ok()) {
      std::fprintf(stderr, "put: %s\n", put.status().ToString().c_str());
      return 1;
    }
    if (put->accepted != static_cast<int>(batch.size())) {
      std::fprintf(stderr, "put: %s\n", put->refused.ToString().c_str());
      return 1;
    }
    last = put->offsets.back();
  }
  std::printf("put %d items, last offset %lld\n", count, static_cast<long long>(last));
  return 0;
}
