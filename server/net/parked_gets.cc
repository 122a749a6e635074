#include "server/net/parked_gets.h"

namespace saker::net {

void ParkedGets::Start(queue::QueueManager* engine, std::string_view name,
                       const queue::GetOptions& options, queue::GetDone done) {
  // The handle is known only when Get returns; a get that completes inline never parks.
  auto handle = std::make_shared<queue::GetHandle>(0);
  queue::GetHandle h = engine->Get(
      name, options,
      [parked = parked_, handle, done = std::move(done)](Result<std::vector<queue::Delivery>> r) {
        if (*handle != 0) parked->erase(*handle);
        done(std::move(r));
      });
  if (h != 0) {
    *handle = h;
    parked_->insert(h);
  }
}

void ParkedGets::CancelAll(queue::QueueManager* engine) {
  for (queue::GetHandle h : *parked_) engine->CancelGet(h);
  parked_->clear();
}

}  // namespace saker::net
