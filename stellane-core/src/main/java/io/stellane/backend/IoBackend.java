package io.stellane.backend;

import io.netty.channel.IoEventLoop;
import io.netty.channel.ServerChannel;
import io.netty.channel.socket.SocketChannel;

/**
 * A backend that also drives network I/O through a Netty {@link IoEventLoop}: servers register
 * their channels on it, so a connection's reads, handler tasks and writes share one thread.
 */
public interface IoBackend extends EventLoopBackend {

    /** The Netty loop this backend turns; valid after {@link #bind}. */
    IoEventLoop ioEventLoop();

    /** The server socket channel class for this transport. */
    Class<? extends ServerChannel> serverChannelType();

    /** The client socket channel class for this transport. */
    Class<? extends SocketChannel> socketChannelType();

    /**
     * Whether a server gives each worker its own listening socket on one port ({@code SO_REUSEPORT}).
     * Only where a listening channel can move to another loop: a retiring worker hands its socket on,
     * since closing it would reset the connections waiting in its accept queue.
     */
    boolean supportsReusePort();
}
