"""Great Expectations gates for Journeys: suites as code, the runner, and the results store.

`run_checks("raw" | "marts", url)` validates the warehouse and returns a typed CheckResult. This
package depends on the shared core (`journeys_core`) only, never on the application.
"""
