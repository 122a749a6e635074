// EventLoop: owns the uv_loop_t of the loop thread. Other threads hand work to it with
// Post(); "before sleep" hooks run once per iteration before the loop blocks for I/O (redis's
// beforeSleep), which is where appends collected in one iteration go to storage as one batch.
// It lives in common/ because storage, queue and net all post to it.
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace saker {

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  uv_loop_t* uv() { return &loop_; }

  // Runs the loop on the calling thread (which becomes the loop thread) until Stop().
  void Run();
  // Runs one non-blocking iteration plus hooks (tests drive the loop with this).
  void RunOnce();
  // Loop thread only: makes Run() return after the current iteration.
  void Stop();

  // Any thread: runs `fn` on the loop thread soon, in Post order. Never runs it inline.
  void Post(std::function<void()> fn);

  // When a before-sleep hook runs relative to the others: producers of work first, the
  // hand-off to the storage thread after them (so what they produced goes in this iteration's
  // group commit), socket writes last.
  enum class HookOrder : int { kProduce = 0, kHandOff = 1, kWrite = 2 };

  // Loop thread only: `fn` runs once per iteration, before the loop waits for I/O. Hooks run
  // by HookOrder, then in registration order; a hook may Post() or register timers but must
  // not block.
  void AddBeforeSleep(std::function<void()> fn, HookOrder order = HookOrder::kProduce);

  // True on the thread that is running (or last ran) the loop.
  bool InLoopThread() const { return std::this_thread::get_id() == loop_thread_; }

 private:
  static void OnAsync(uv_async_t* handle);
  static void OnPrepare(uv_prepare_t* handle);
  void DrainPosted();

  uv_loop_t loop_;
  uv_async_t async_;
  uv_prepare_t prepare_;
  std::thread::id loop_thread_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  void RunBeforeSleep();

  std::vector<std::pair<HookOrder, std::function<void()>>> before_sleep_;  // sorted by order
};

}  // namespace saker
