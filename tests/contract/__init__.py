"""The facade's contract with the generated package: run against generated/ by make test,
and against variants of the API document by tests/regeneration/."""
