"""Stream adapters: each turns one network's live stream into ``Post`` objects, reconnecting with
backoff and resuming from its cursor so that no post is lost or yielded twice."""
