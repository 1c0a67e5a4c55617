// The service the pre-fork tests serve: each call says which worker process answered it.
namespace py probe

service Probe {
  i32 pid(),
  i32 add(1: i32 a, 2: i32 b),
  i32 slow(1: double seconds, 2: i32 value),
  string version(),
  string runtime(),
}
