// Prints the closing line CI reads: "N passed, N failed" alone on a line. It is written as the
// process exits, so it comes after jest's own summary (which jest writes to stderr).
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `${results.numPassedTests} passed, ${failed} failed\n`;
    process.once("exit", () => process.stdout.write(line));
  }
}
module.exports = SummaryReporter;
