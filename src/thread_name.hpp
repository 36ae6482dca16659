// SPDX-License-Identifier: MIT
#pragma once

#include <pthread.h>

#include <string>
#include <thread>

namespace hellod {

// Names a thread as ps -L, top -H and /proc/PID/task/TID/comm show it
// (hellod-worker0, hellod-logger), so an operator can tell which one is
// busy. The kernel keeps 15 bytes; a longer name is cut, and a failure only
// leaves the process's name in place.
inline void name_thread(std::thread& thread, std::string name) {
  constexpr std::size_t kMaxName = 15;
  if (name.size() > kMaxName) name.resize(kMaxName);
  static_cast<void>(::pthread_setname_np(thread.native_handle(), name.c_str()));
}

}  // namespace hellod
