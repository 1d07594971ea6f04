"""The test range: a real Elasticsearch node, sample city apps, attack scenarios, the demo."""
