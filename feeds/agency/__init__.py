"""Agency inputs (local governments): road closures first."""
