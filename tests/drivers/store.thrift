// Every shape of call the drivers must carry, used by tests/drivers.
namespace py store

enum Color {
  RED = 1,
  GREEN = 2,
  BLUE = 3,
}

struct Point {
  1: i32 x,
  2: i32 y,
}

struct Shape {
  1: required string name,
  2: list<Point> points,
  3: map<string, i64> tags,
  4: set<i16> ids,
  5: optional Color color,
  6: binary blob,
  7: double weight,
  8: bool filled,
  9: i8 tiny,
}

union Value {
  1: i64 num,
  2: string text,
}

exception NotFound {
  1: string key,
}

exception Invalid {
  1: i32 code,
  2: string why,
}

service Store {
  void ping(),
  i32 add(1: i32 a, 2: i32 b),
  string echo(1: string text),
  binary echo_binary(1: binary data),
  Shape roundtrip(1: Shape shape),
  list<Shape> many(1: i32 n),
  map<string, list<i32>> nested(1: map<string, list<i32>> m),
  Value pick(1: bool number),
  string get(1: string key) throws (1: NotFound nf, 2: Invalid inv),
  i32 boom(1: string kind),
  i32 slow(1: double seconds, 2: i32 value),
  oneway void fire(1: string tag),
  i64 fired(),
}

// A newer version of the service: the server (built from Store) lacks added_later.
service StoreV2 extends Store {
  i32 added_later(1: i32 x),
}
