"""HTTP API: accepts bulk status jobs, serves their progress and the synchronous endpoint."""
