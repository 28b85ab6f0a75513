// Prints one plain closing line after jest's own summary, e.g.
// `tests: 412 passed, 0 failed, 3 skipped`, so any tool reading the end of the log sees the counts
// in a runner-neutral form. Jest prints its summary after every reporter's onRunComplete, so the
// line is written on exit (stderr writes to a pipe or file are synchronous on Linux).
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const suites =
      results.numFailedTestSuites > 0
        ? ` (${results.numFailedTestSuites} suites failed, ${results.numRuntimeErrorTestSuites} of them did not run)`
        : '';
    const line = `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped${suites}\n`;
    process.once('exit', () => process.stderr.write(line));
  }
}
module.exports = SummaryReporter;
