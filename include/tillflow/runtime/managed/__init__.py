"""The platform's own processes as managed services of the local stack (composition over the jobs)."""
