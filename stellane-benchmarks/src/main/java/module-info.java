/**
 * The JMH benchmarks and the HTTP benchmarks' raw Netty peers; a tool, never deployed. Open, since JMH
 * reaches the generated benchmark classes by reflection.
 */
open module io.stellane.benchmarks {
    requires io.stellane.core;
    requires com.fasterxml.jackson.databind;
    requires io.netty.buffer;
    requires io.netty.codec.http;
    requires io.netty.codec.http2;
    requires io.netty.transport.classes.epoll;
    requires io.netty.transport.classes.io_uring;
    requires jmh.core;
    requires org.jctools.core;
}
