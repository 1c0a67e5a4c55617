// The calculator service used by the Swordfish demo (the classic Thrift tutorial shape).
namespace py calc

/** What calculate() should do with the two numbers of a Work. */
enum Operation {
  ADD = 1,
  SUBTRACT = 2,
  MULTIPLY = 3,
  DIVIDE = 4,
}

/** One calculation: num1 <op> num2, with an optional note for the log. */
struct Work {
  1: i32 num1 = 0,
  2: i32 num2,
  3: Operation op,
  4: optional string comment,
}

/** Raised by calculate() for an unknown operation or a division by zero. */
exception InvalidOperation {
  1: i32 whatOp,
  2: string why,
}

service Calculator {
  /** Does nothing; proves the connection works. */
  void ping(),

  i32 add(1: i32 num1, 2: i32 num2),

  /** Runs the Work and remembers its result under logid. */
  i32 calculate(1: i32 logid, 2: Work w) throws (1: InvalidOperation ouch),

  /** Fire and forget: the server never replies. */
  oneway void zip(),
}
