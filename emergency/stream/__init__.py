"""The Kafka stream layer: embedded broker, topics, producer, consumers, outbox relay."""
