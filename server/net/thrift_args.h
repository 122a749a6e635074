// The checks of the native API's arguments (saker.thrift's own methods; Kestrel's methods keep
// Kestrel's leniency). Two layers:
//
// - Shape, read from the frame before the generated processor sees it: that code skips a field
//   of the wrong type and leaves a missing one at its default, so a put_items with no queue or
//   no items would run with "" or an empty list. CheckNativeArgs refuses a missing field the IDL
//   gives no default, a field of the wrong type (in a PutItem or StartPosition too) and bytes that
//   do not parse; unknown field ids are skipped, as Thrift's compatibility rules want.
// - Values, on the decoded arguments: names, non-empty lists, ranges (Check* below).
//
// Every refusal is InvalidArgument with a message naming the method and the field; the session
// answers it as the method's declared SakerError (INVALID_ARGUMENT). No I/O, no state.
#pragma once

#include <cstdint>
#include <string_view>

#include "server/common/status.h"

namespace saker::net {

// `args` is the frame after the message header of a call to `method`. OK for a method that is
// not native (Kestrel's, or unknown: the processor answers those).
Status CheckNativeArgs(std::string_view method, std::string_view args);

// A queue name (docs/SEMANTICS.md: 1-200 bytes of [A-Za-z0-9_.:-]), or "queue+sub" where the
// engine takes one (queue::ParseQueueName).
Status CheckQueueArg(std::string_view method, std::string_view queue);
// A subscription name: "" (the default subscription) if `allow_default`, else a name as above.
Status CheckSubscriptionArg(std::string_view method, std::string_view subscription,
                            bool allow_default);
// A list the call needs at least one element of (put_items' items, the lease ids).
Status CheckNotEmpty(std::string_view method, std::string_view field, size_t size);
// An integer argument within [lo, hi].
Status CheckRange(std::string_view method, std::string_view field, int64_t value, int64_t lo,
                  int64_t hi);
// A StartPosition: a known kind; OFFSET and TIMESTAMP values from 0.
Status CheckStartArg(std::string_view method, int32_t kind, int64_t value);

// A call naming one subscription of a queue and a start position (create, seek).
Status CheckSubscriptionCall(std::string_view method, std::string_view queue,
                             std::string_view subscription, bool allow_default, int32_t kind,
                             int64_t value);
// An ack, nack or extend_leases: `queue` routes the call; there must be lease ids.
Status CheckLeaseCall(std::string_view method, std::string_view queue, size_t lease_ids);

}  // namespace saker::net
