// The calculator of examples/calc, plus two methods that make gunicorn's work visible.
include "../calc/calc.thrift"

service WorkerCalculator extends calc.Calculator {
  /** The process id of the worker that answered: calls spread over workers, and a
      recycled (--max-requests) or reloaded (SIGHUP) worker comes back with a new pid. */
  i32 pid(),

  /** Answers after `seconds`: a call to hold in flight while the worker drains (SIGTERM). */
  void sleep(1: double seconds),
}
