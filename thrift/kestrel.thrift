// Kestrel's thrift service (twitter/kestrel src/main/thrift/kestrel.thrift, 2.4), method for
// method and field id for field id, so existing Kestrel clients work unchanged. Only the C++
// namespace is ours (the service name and namespaces never reach the wire in TBinaryProtocol);
// Python keeps the module name `kestrel`.

namespace java net.lag.kestrel.thrift
#@namespace scala net.lag.kestrel.thriftscala
namespace cpp saker.kestrel

struct Item {
  // the actual data
  1: binary data

  // transaction ID, to be used in the `confirm` call; 0 for a non-reliable read
  2: i64 id
}

struct QueueInfo {
  // the head item on the queue, if there is one
  1: optional binary head_item

  // # of items currently in the queue
  2: i64 items

  // total bytes of data currently in the queue
  3: i64 bytes

  // total bytes of the journal
  4: i64 journal_bytes

  // age (in milliseconds) of the head item on the queue, if present
  5: i64 age

  // # of clients currently waiting to fetch an item
  6: i32 waiters

  // # of items that have been fetched but not confirmed
  7: i32 open_transactions
}

enum Status {
  // No status is stored (or the server's status is not one of the three below).
  NOT_CONFIGURED = 0,

  // Quiescent: reads and writes are refused; confirm and abort still work.
  QUIESCENT = 1,

  // Read-only: writes are refused.
  READ_ONLY = 2,

  // Up: every operation is allowed.
  UP = 3,
}

service Kestrel {
  // Puts items on the queue, in order, with an optional relative expiration in milliseconds
  // (0 = never). Returns how many were accepted: a prefix of `items`.
  i32 put(1: string queue_name, 2: list<binary> items, 3: i32 expiration_msec = 0)

  // Gets up to `max_items` items, waiting up to `timeout_msec` for them (until `max_items` or
  // the deadline). With `auto_abort_msec` > 0 every item is a reliable read with a non-zero id
  // that is aborted unless confirmed within that time; otherwise items are removed for good.
  list<Item> get(1: string queue_name, 2: i32 max_items, 3: i32 timeout_msec = 0, 4: i32 auto_abort_msec = 0)

  // Confirms / aborts reliable reads by id (from any connection). Returns how many matched.
  i32 confirm(1: string queue_name, 2: set<i64> ids)
  i32 abort(1: string queue_name, 2: set<i64> ids)

  // The head item (not removed) and the queue's statistics.
  QueueInfo peek(1: string queue_name)

  // Removes every item of one queue / of every queue.
  void flush_queue(1: string queue_name)
  void flush_all_queues()

  // Removes a queue and its data.
  void delete_queue(1: string queue_name)

  Status current_status()
  void set_status(1: Status status)

  string get_version()
}
