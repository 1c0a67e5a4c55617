// Two services for the multiplexed-protocol interop tests (tests/interop/test_multiplexed_interop.py).
// Both declare add, with different results, so a call routed to the wrong service shows.
namespace py muxtest

exception Oops {
  1: string why,
}

service Calc {
  i32 add(1: i32 a, 2: i32 b),          // a + b
  i32 divide(1: i32 a, 2: i32 b) throws (1: Oops oops),
  oneway void note(1: string text),
  i32 notes(),                           // how many notes arrived
}

service Echo {
  string echo(1: string text),
  i32 add(1: i32 a, 2: i32 b),          // -(a + b)
}
