"""Telemetry: OpenTelemetry spans with the GenAI conventions and Prometheus metrics.

Home of milestone 2, step 5. It sits at the bottom of the runtime's layers, beside the
conversation shapes, so every layer may open a span; the ``opentelemetry`` and
``prometheus_client`` imports will live here and nowhere else. Empty until then.
"""
