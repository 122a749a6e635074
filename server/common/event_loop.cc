// EventLoop: uv_async_t for cross-thread Post (coalescing wake-ups: the callback drains
// everything posted so far), uv_prepare_t for the before-sleep hooks.
#include "server/common/event_loop.h"

#include <algorithm>

#include "server/common/check.h"

namespace saker {

EventLoop::EventLoop() : loop_thread_(std::this_thread::get_id()) {
  SAKER_CHECK(uv_loop_init(&loop_) == 0);
  SAKER_CHECK(uv_async_init(&loop_, &async_, &EventLoop::OnAsync) == 0);
  async_.data = this;
  SAKER_CHECK(uv_prepare_init(&loop_, &prepare_) == 0);
  prepare_.data = this;
  SAKER_CHECK(uv_prepare_start(&prepare_, &EventLoop::OnPrepare) == 0);
  // The hooks must not keep the loop alive on their own.
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
}

EventLoop::~EventLoop() {
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
  // Let every handle's close callback run before the loop memory goes away.
  while (uv_loop_close(&loop_) == UV_EBUSY) {
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
}

void EventLoop::Run() {
  loop_thread_ = std::this_thread::get_id();
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void EventLoop::RunOnce() {
  loop_thread_ = std::this_thread::get_id();
  DrainPosted();
  RunBeforeSleep();
  uv_run(&loop_, UV_RUN_NOWAIT);
}

void EventLoop::Stop() { uv_stop(&loop_); }

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void EventLoop::AddBeforeSleep(std::function<void()> fn, HookOrder order) {
  auto pos = std::upper_bound(before_sleep_.begin(), before_sleep_.end(), order,
                              [](HookOrder o, const auto& hook) { return o < hook.first; });
  before_sleep_.insert(pos, {order, std::move(fn)});
}

void EventLoop::RunBeforeSleep() {
  for (auto& hook : before_sleep_) hook.second();
}

void EventLoop::OnAsync(uv_async_t* handle) {
  static_cast<EventLoop*>(handle->data)->DrainPosted();
}

void EventLoop::OnPrepare(uv_prepare_t* handle) {
  static_cast<EventLoop*>(handle->data)->RunBeforeSleep();
}

void EventLoop::DrainPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

}  // namespace saker
