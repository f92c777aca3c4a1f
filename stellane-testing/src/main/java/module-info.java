/**
 * Testing Stellane servers with JUnit Jupiter: {@code @ServerTest} gives a test class a runtime and
 * a server on {@code 127.0.0.1}, port 0, with a client bound to it; {@code StellaneTest.test} does the
 * same for one block of code. Exports its API only; opens it to JUnit, which instantiates the
 * extension reflectively.
 */
module io.stellane.testing {
    requires transitive io.stellane.server;
    requires transitive org.junit.jupiter.api;
    requires transitive java.net.http;

    exports io.stellane.testing;
    opens io.stellane.testing to org.junit.platform.commons;
}
