/** HTTP/1.1 and HTTP/2 (cleartext) on the runtime's workers: routing, handlers, filters, request recovery. Exports its API only. */
module io.stellane.server {
    requires transitive io.stellane.core;
    requires transitive io.stellane.recovery;
    requires transitive com.fasterxml.jackson.databind;
    requires com.fasterxml.jackson.datatype.jsr310;
    requires io.netty.buffer;
    requires io.netty.codec;
    requires io.netty.codec.http;
    requires io.netty.codec.http2;
    requires io.netty.handler;
    requires io.netty.transport.classes.epoll;
    requires io.netty.transport.classes.io_uring;

    exports io.stellane.server;
}
