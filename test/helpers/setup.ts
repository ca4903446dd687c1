// Runs before every test file: the services a test calls in its own process (seeding, say) log only
// warnings and errors, so the test output stays readable. Servers a test starts set their own LOG_LEVEL.
process.env.LOG_LEVEL ??= "warn";
