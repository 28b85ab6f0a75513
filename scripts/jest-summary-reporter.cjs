// Prints one plain closing line after jest's own summary, e.g. `tests: 412 passed, 0 failed, 3 skipped`,
// so any tool reading the end of the log sees the counts in a runner-neutral form. stderr, like jest's
// own summary, so the line comes last.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stderr.write(
      `\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped` +
        (results.numFailedTestSuites > 0
          ? ` (${results.numFailedTestSuites} suites failed, ${results.numRuntimeErrorTestSuites} of them did not run)`
          : '') +
        '\n',
    );
  }
}
module.exports = SummaryReporter;
