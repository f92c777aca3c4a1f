/** The example users service that {@code ./stellane serve} runs, and the TechEmpower app of the HTTP benchmark. */
module io.stellane.examples {
    requires io.stellane.app;
    requires io.stellane.dashboard;
    requires io.stellane.metrics;
    requires io.stellane.recovery;
    requires io.stellane.server;
    requires com.fasterxml.jackson.databind;
    requires com.h2database;
    requires com.zaxxer.hikari;
    requires io.netty.common;
    requires java.sql;
    requires org.postgresql.jdbc;
    requires org.slf4j;

    // Jackson reads and writes the service's records; H2 creates PrivateFilePath by reflection
    opens io.stellane.examples to com.fasterxml.jackson.databind;
    opens io.stellane.examples.users to com.fasterxml.jackson.databind, com.h2database;
}
