/** OpenTelemetry spans per request and per named task. */
module io.stellane.tracing {
    requires transitive io.stellane.server;
    requires transitive io.opentelemetry.api;

    exports io.stellane.tracing;
}
