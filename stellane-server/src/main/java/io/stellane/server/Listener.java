package io.stellane.server;

import io.netty.buffer.AdaptiveByteBufAllocator;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import io.netty.channel.MaxMessagesRecvByteBufAllocator;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.socket.nio.NioChannelOption;
import io.netty.channel.uring.IoUringChannelOption;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.stellane.StellaneException;
import io.stellane.backend.IoBackend;
import io.stellane.config.RuntimeConfig;
import io.stellane.task.Worker;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.BindException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The listening side of one {@code listen()} call.
 *
 * <p>With {@code SO_REUSEPORT} (epoll; more than one worker) every worker binds its own
 * server channel to the port and keeps the connections it accepts: the kernel spreads them. Without
 * it, worker 0's loop accepts and registers each connection on the next worker's loop, round-robin.
 * Accepted channels are configured here (options, allocator, pipeline) and registered on their
 * loop directly, so no Netty {@code EventLoopGroup} over the workers is needed.
 *
 * <p>With TLS, each connection's pipeline starts with an {@code SslHandler} made from the listener's
 * {@link TlsContext}; without, nothing of TLS is in it.
 *
 * <p>{@link ServerConfig#reusePort()} shares the port with other processes: every listening socket,
 * one or one per worker, gets {@code SO_REUSEPORT}, and the kernel spreads connections over all the
 * processes' sockets. Without it a port another process listens on is refused, also when this
 * listener's own sockets carry {@code SO_REUSEPORT} for its workers (see {@link #refuseIfTaken}).
 */
final class Listener {
    // Netty 4.2's adaptive allocator (what the raw Netty peer uses), with thread-local magazines on
    // every worker: Netty only grants them to threads it sees inside one of its own loops at their
    // first allocation, and our workers also allocate outside Netty's turn (in tasks).
    private static final Logger LOG = LoggerFactory.getLogger(Listener.class);
    private static final long CLOSE_WAIT_MILLIS = 5_000;
    private static final ByteBufAllocator DIRECT = new AdaptiveByteBufAllocator(true, true);
    private static final ByteBufAllocator HEAP = new AdaptiveByteBufAllocator(false, true);

    private final Server server;
    private final List<IoBackend> backends;
    private final RuntimeConfig runtime;
    /** Null: cleartext. */
    private final TlsContext tls;
    private final List<Channel> channels = new ArrayList<>();
    /** One listening socket per worker, bound with SO_REUSEPORT. */
    private boolean socketPerWorker;
    /** SO_REUSEPORT on every listening socket, for other processes to share the port. */
    private boolean shared;
    private InetSocketAddress bound;
    private int port;

    Listener(Server server, List<IoBackend> backends, RuntimeConfig runtime, TlsContext tls) {
        this.server = server;
        this.backends = backends;
        this.runtime = runtime;
        this.tls = tls;
    }

    int bind(InetSocketAddress address) {
        IoEventLoop[] loops = backends.stream().map(IoBackend::ioEventLoop).toArray(IoEventLoop[]::new);
        socketPerWorker = loops.length > 1 && backends.stream().allMatch(IoBackend::supportsReusePort);
        shared = server.config.reusePort();
        try {
            if (socketPerWorker && !shared && address.getPort() != 0 && !address.isUnresolved()) {
                refuseIfTaken(address);
            }
            if (socketPerWorker) {
                InetSocketAddress at = address;
                for (int i = 0; i < loops.length; i++) {
                    Channel ch = open(backends.get(i), loops[i], new IoEventLoop[]{loops[i]}, at);
                    if (i == 0) {
                        port = ((InetSocketAddress) ch.localAddress()).getPort();
                        at = new InetSocketAddress(address.getAddress(), port);
                    }
                }
            } else {
                Channel ch = open(backends.getFirst(), loops[0], loops, address);
                port = ((InetSocketAddress) ch.localAddress()).getPort();
            }
        } catch (Exception e) { // Netty's sync() rethrows the bind's IOException unchecked
            close();
            throw new StellaneException("cannot listen on " + address + ": " + whyNot(e), e);
        }
        bound = new InetSocketAddress(address.getAddress(), port);
        return port;
    }

    /**
     * A plain bind (no SO_REUSEPORT) of the address, released at once: it fails when anyone listens
     * there. Needed before binding one socket per worker, whose SO_REUSEPORT would otherwise let this
     * process join another one's listener silently, each then getting part of the connections. A
     * listener that appears between this check and the bind goes unnoticed.
     */
    private static void refuseIfTaken(InetSocketAddress address) {
        ProtocolFamily family = address.getAddress() instanceof Inet6Address ? StandardProtocolFamily.INET6
                : StandardProtocolFamily.INET;
        try (SocketChannel probe = SocketChannel.open(family)) {
            probe.setOption(StandardSocketOptions.SO_REUSEADDR, true); // as the listening sockets: TIME_WAIT is no conflict
            probe.bind(address);
        } catch (IOException e) {
            throw new StellaneException(e.getMessage(), e);
        }
    }

    private String whyNot(Exception e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BindException || String.valueOf(t.getMessage()).contains("Address already in use")) {
                return shared
                        ? "address already in use by a socket without SO_REUSEPORT; reuse_port is on here, and every"
                                + " process sharing the port needs it on too (and the same user)"
                        : "address already in use; to share the port with another process, set reuse_port = true"
                                + " ([server] table, ServerConfig.reusePort) in every process that listens on it";
            }
        }
        return e.getMessage();
    }

    /**
     * A worker joined the runtime: with one socket per worker it gets its own (SO_REUSEPORT), else it
     * takes its share of what the acceptor hands out. Not on a worker thread.
     */
    synchronized void workerAdded(IoBackend backend) {
        if (channels.isEmpty()) {
            return; // closed
        }
        IoEventLoop loop = backend.ioEventLoop();
        if (socketPerWorker) {
            open(backend, loop, new IoEventLoop[]{loop}, bound);
        } else {
            acceptorOf(channels.getFirst()).add(loop);
        }
    }

    /**
     * A worker is retiring. Its socket, with one socket per worker, moves to {@code heir}'s loop rather
     * than closing: a closed SO_REUSEPORT socket resets the connections waiting in its accept queue.
     * With one acceptor, it leaves the rotation. Not on a worker thread.
     */
    synchronized void workerRetiring(IoBackend backend, IoBackend heir) {
        IoEventLoop loop = backend.ioEventLoop();
        for (Channel ch : channels) {
            Acceptor acceptor = acceptorOf(ch);
            if (socketPerWorker && ch.eventLoop() == loop) {
                IoEventLoop to = heir.ioEventLoop();
                acceptor.loops = new IoEventLoop[]{to};
                ch.deregister().syncUninterruptibly();
                to.register(ch).syncUninterruptibly();
            } else if (!socketPerWorker) {
                acceptor.remove(loop);
            }
        }
    }

    private static Acceptor acceptorOf(Channel ch) {
        return ch.pipeline().get(Acceptor.class);
    }

    private Channel open(IoBackend backend, IoEventLoop loop, IoEventLoop[] childLoops, InetSocketAddress address) {
        ServerChannel ch;
        try {
            ch = backend.serverChannelType().getConstructor().newInstance();
        } catch (ReflectiveOperationException e) {
            throw new StellaneException("cannot create a " + backend.serverChannelType().getSimpleName(), e);
        }
        ch.config().setOption(ChannelOption.SO_REUSEADDR, true);
        ch.config().setOption(ChannelOption.SO_BACKLOG, server.config.backlog());
        if ((socketPerWorker || shared) && !setReusePort(ch.config())) {
            ch.unsafe().closeForcibly();
            throw new StellaneException("reuse_port is on, but a " + ch.getClass().getSimpleName()
                    + " cannot set SO_REUSEPORT here; use the epoll, io_uring or nio backend on an OS with SO_REUSEPORT"
                    + " (Linux, macOS, the BSDs)");
        }
        ch.pipeline().addLast(new Acceptor(server, childLoops, runtime, tls));
        loop.register(ch).syncUninterruptibly();
        channels.add(ch);
        ch.bind(address).syncUninterruptibly();
        return ch;
    }

    /** Each transport answers false for the others' options; NIO's also where the JDK has no SO_REUSEPORT. */
    private static boolean setReusePort(ChannelConfig config) {
        return config.setOption(EpollChannelOption.SO_REUSEPORT, true)
                || config.setOption(IoUringChannelOption.SO_REUSEPORT, true)
                || config.setOption(NioChannelOption.of(StandardSocketOptions.SO_REUSEPORT), true);
    }

    int port() {
        return port;
    }

    int acceptors() {
        return channels.size();
    }

    void close() {
        for (Channel ch : channels) {
            // A loop that has already ended never runs the close: wait a bounded time rather than forever
            // (its backend releases its sockets as it ends).
            if (!ch.close().awaitUninterruptibly(CLOSE_WAIT_MILLIS)) {
                LOG.warn("listening socket {} not closed within {} ms: its worker's loop has ended", ch, CLOSE_WAIT_MILLIS);
            }
        }
        channels.clear();
    }

    /** On a server channel: configures each accepted connection and hands it to a worker's loop. */
    private static final class Acceptor extends ChannelInboundHandlerAdapter {
        private final Server server;
        private final TlsContext tls;
        /** Replaced, never changed in place, when workers join or retire. */
        private volatile IoEventLoop[] loops;
        private final ByteBufAllocator allocator;
        /** The runtime's io_batch_size at bind; the accepting worker's current one once it runs. */
        private final int batch;
        /** What the decoder and water marks were made from; made again when the server's config changes. */
        private ServerConfig made;
        private HttpDecoderConfig decoderConfig;
        private WriteBufferWaterMark waterMark;
        private int next;

        Acceptor(Server server, IoEventLoop[] loops, RuntimeConfig runtime, TlsContext tls) {
            this.server = server;
            this.tls = tls;
            this.loops = loops;
            this.allocator = runtime.zeroCopyIo() ? DIRECT : HEAP;
            this.batch = runtime.ioBatchSize();
            configure(server.config);
        }

        private void configure(ServerConfig c) {
            made = c;
            this.decoderConfig = new HttpDecoderConfig()
                    .setMaxInitialLineLength(c.maxRequestLineLength())
                    .setMaxHeaderSize(c.maxHeaderSize())
                    .setMaxChunkSize(64 * 1024);
            this.waterMark = new WriteBufferWaterMark(c.writeHighWaterMark() / 2, c.writeHighWaterMark());
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Channel child = (Channel) msg;
            if (server.draining) {
                child.unsafe().closeForcibly();
                return;
            }
            InetAddress address = child.remoteAddress() instanceof InetSocketAddress a ? a.getAddress() : null;
            if (server.connections.admit(address) != null) {
                child.unsafe().closeForcibly(); // refused: counted and logged by admit
                return;
            }
            if (server.config != made) {
                configure(server.config);
            }
            try {
                child.config().setOption(ChannelOption.TCP_NODELAY, true);
                child.config().setAllocator(allocator);
                child.config().setWriteBufferWaterMark(waterMark);
                if (child.config().getRecvByteBufAllocator() instanceof MaxMessagesRecvByteBufAllocator r) {
                    r.maxMessagesPerRead(Worker.current() instanceof Worker w ? w.ioBatchSize() : batch);
                }
                Http1Connection conn = new Http1Connection(server, address, tls != null);
                if (tls != null) {
                    // no h2c detector: over TLS, HTTP/2 is what ALPN negotiated (see Http1Connection.HandshakeWatch)
                    child.pipeline().addLast(tls.newHandler(allocator), new Http1Connection.HandshakeWatch(conn));
                    child.pipeline().addLast(new RequestDecoder(decoderConfig, conn), new HttpResponseEncoder(), conn);
                } else {
                    child.pipeline().addLast(new Http2Connection.Detector(conn), new RequestDecoder(decoderConfig, conn),
                            new HttpResponseEncoder(), conn);
                }
                IoEventLoop[] ls = loops;
                int i = next < ls.length ? next : 0;
                EventLoop loop = ls[i];
                next = i + 1 == ls.length ? 0 : i + 1;
                boolean[] counted = {true};
                loop.register(child).addListener(f -> {
                    if (!f.isSuccess()) {
                        child.unsafe().closeForcibly();
                        if (counted[0]) {
                            counted[0] = false;
                            server.connections.release(address);
                        }
                    }
                });
            } catch (Throwable t) {
                server.connections.release(address);
                child.unsafe().closeForcibly();
                server.reportConnectionError(t);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // accept errors (e.g. too many open files) must not close the listening socket
            server.reportConnectionError(cause);
        }

        synchronized void add(IoEventLoop loop) {
            IoEventLoop[] ls = Arrays.copyOf(loops, loops.length + 1);
            ls[ls.length - 1] = loop;
            loops = ls;
        }

        synchronized void remove(IoEventLoop loop) {
            IoEventLoop[] ls = Arrays.stream(loops).filter(l -> l != loop).toArray(IoEventLoop[]::new);
            if (ls.length > 0) {
                loops = ls;
            }
        }
    }
}
