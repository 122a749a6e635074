// SAKER_CHECK: a broken invariant logs critical and aborts (it never returns).
#pragma once

namespace saker {
[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);
}  // namespace saker

#define SAKER_CHECK(cond) ((cond) ? (void)0 : ::saker::CheckFailed(__FILE__, __LINE__, #cond))
