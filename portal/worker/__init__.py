"""The worker process (``pay2connect worker``): expiry timer, router lanes, periodic jobs."""
