package io.stellane.server;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.util.ReferenceCountUtil;
import io.stellane.config.ConfigException;
import org.slf4j.Logger;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * A server's TLS: the Netty {@link SslContext} built from a {@link TlsConfig}, a handler per accepted
 * connection from it, and the reload of its files.
 *
 * <h2>How it works</h2>
 * The context in use is replaced as a whole, never changed: a reload (the files changed) or
 * {@link #update} (the config did) builds a new one from freshly checked files, and only a complete
 * one takes over, so new handshakes get the new certificate and connections already open keep their
 * engine and session. A failed reload is logged and changes nothing. With the OpenSSL engine the
 * context holds native memory and is reference-counted: this holder owns one count, each engine
 * another (its {@link SslHandler} releases it with the connection), so a replaced context is freed
 * once its last connection ends.
 *
 * <p>The files are watched by a virtual thread that looks at their size, modification time and
 * identity every {@code reloadInterval} (that also sees a symbolic link switched to a new target, as
 * Kubernetes does with mounted secrets) and reloads when they differ and their content did change.
 * A certificate and key written one after the other may be caught in between: that attempt fails
 * (the key does not match), and the next look, after the second write, succeeds.
 *
 * <p>ALPN offers {@code h2}, then {@code http/1.1}; where the handshake completes
 * ({@link Http1Connection}), a connection that negotiated {@code h2} is given to an HTTP/2 pipeline.
 *
 * <p>Threading: {@link #newHandler} is called by acceptors on any worker; {@link #update},
 * {@link #reloadIfChanged} and {@link #close} from other threads. All are thread-safe.
 */
final class TlsContext implements AutoCloseable {
    /** What ALPN offers, in order of preference. */
    static final List<String> ALPN_PROTOCOLS = List.of(ApplicationProtocolNames.HTTP_2, ApplicationProtocolNames.HTTP_1_1);

    private final Logger log;
    /** Replaced whole under this object's lock; read by acceptors under it too (see {@link #newHandler}). */
    private Loaded current;
    /** The files' attributes at the last look: what the watcher compares. */
    private volatile List<Object> stamps;
    private volatile boolean closed;
    private final Thread watcher;

    private record Loaded(TlsConfig config, SslContext ssl, TlsMaterial material, String engine) {
    }

    private TlsContext(Logger log, Loaded first) {
        this.log = log;
        this.current = first;
        this.stamps = stamps(first.config);
        this.watcher = Thread.ofVirtual().name("stellane-tls-reload").unstarted(this::watch);
    }

    /**
     * Loads and checks the files of {@code config} and builds the context; logs the engine and the
     * certificate chosen.
     *
     * @throws ConfigException naming the file and what is wrong with it, or the engine that cannot run
     */
    static TlsContext open(TlsConfig config, Logger log) {
        Loaded first = build(config, TlsMaterial.load(config));
        TlsContext t = new TlsContext(log, first);
        t.logInUse("TLS on", first);
        t.watcher.start();
        return t;
    }

    private void logInUse(String what, Loaded l) {
        log.info("{}: engine {}, protocols {}, client certificates {}, ALPN {}; certificate {} ({}), valid until {}",
                what, l.engine, l.config.protocols(), l.config.clientAuth().name().toLowerCase(Locale.ROOT),
                ALPN_PROTOCOLS, l.config.certificate(), TlsMaterial.describe(l.material.leaf()),
                l.material.leaf().getNotAfter().toInstant());
    }

    /** Which Netty provider runs {@code engine}: OpenSSL where it loads (AUTO), else the JDK's. */
    static SslProvider provider(TlsConfig.Engine engine) {
        return switch (engine) {
            case JDK -> SslProvider.JDK;
            case AUTO -> OpenSsl.isAvailable() ? SslProvider.OPENSSL_REFCNT : SslProvider.JDK;
            case OPENSSL -> {
                if (!OpenSsl.isAvailable()) {
                    Throwable why = OpenSsl.unavailabilityCause();
                    throw new ConfigException("tls.engine", "openssl", "an engine that loads here: OpenSSL"
                            + " (netty-tcnative) does not (" + (why == null ? "not on the class path" : why)
                            + "); use \"auto\" or \"jdk\"");
                }
                yield SslProvider.OPENSSL_REFCNT;
            }
        };
    }

    private static Loaded build(TlsConfig config, TlsMaterial material) {
        SslProvider provider = provider(config.engine());
        SslContextBuilder b = SslContextBuilder.forServer(material.key(), material.chain())
                .sslProvider(provider)
                .protocols(config.protocols())
                .ciphers(config.ciphers(), SupportedCipherSuiteFilter.INSTANCE)
                .clientAuth(switch (config.clientAuth()) {
                    case NONE -> ClientAuth.NONE;
                    case OPTIONAL -> ClientAuth.OPTIONAL;
                    case REQUIRED -> ClientAuth.REQUIRE;
                });
        if (SslProvider.isAlpnSupported(provider)) {
            // NO_ADVERTISE and ACCEPT: the only behaviours both engines implement; a client that offers no
            // protocol we know gets a handshake without ALPN and speaks HTTP/1.1
            b.applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                    ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                    ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, ALPN_PROTOCOLS));
        }
        if (!material.clientCas().isEmpty()) {
            b.trustManager(material.clientCas());
        }
        SslContext ssl;
        try {
            ssl = b.build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new ConfigException("tls", "the " + engineName(provider) + " engine refuses the certificate, key"
                    + " or settings (" + config.certificate() + ", " + config.privateKey() + "): " + e.getMessage(), e);
        }
        if (ssl.cipherSuites().isEmpty()) {
            ReferenceCountUtil.release(ssl);
            throw new ConfigException("tls.ciphers", config.ciphers().toString(), "at least one cipher suite the "
                    + engineName(provider) + " engine supports");
        }
        return new Loaded(config, ssl, material, engineName(provider));
    }

    private static String engineName(SslProvider provider) {
        return provider == SslProvider.JDK ? "jdk (" + java.lang.Runtime.version() + ")" : "openssl (" + OpenSsl.versionString() + ")";
    }

    /** The engine in use, {@code openssl} or {@code jdk}. */
    synchronized String engine() {
        return current.engine.substring(0, current.engine.indexOf(' '));
    }

    /** The certificate new handshakes present. */
    synchronized X509Certificate certificate() {
        return current.material.leaf();
    }

    /** A handler for a newly accepted connection, on the current context; its handshake is bounded by the config. */
    SslHandler newHandler(ByteBufAllocator alloc) {
        SslContext ssl;
        long timeoutMillis;
        synchronized (this) {
            // retained under the lock: a reload swapping and releasing it cannot free it before the engine holds it
            ssl = ReferenceCountUtil.retain(current.ssl);
            timeoutMillis = current.config.handshakeTimeout().toMillis();
        }
        try {
            SslHandler h = ssl.newHandler(alloc);
            h.setHandshakeTimeout(timeoutMillis, TimeUnit.MILLISECONDS);
            return h;
        } finally {
            ReferenceCountUtil.release(ssl);
        }
    }

    /**
     * Applies a changed config (new files, client certificates, engine, versions, ciphers, timeouts) to
     * new handshakes. Nothing changes when it fails.
     *
     * @throws ConfigException naming the file or setting that is wrong
     */
    void update(TlsConfig next) {
        Objects.requireNonNull(next, "next");
        Loaded l = build(next, TlsMaterial.load(next));
        swap(l);
        stamps = stamps(next);
        logInUse("TLS settings changed", l);
    }

    /**
     * Loads the files again if they changed since the last look; returns whether the context in use was
     * replaced. A failure is logged and keeps the context in use.
     */
    boolean reloadIfChanged() {
        TlsConfig config;
        TlsMaterial before;
        synchronized (this) {
            config = current.config;
            before = current.material;
        }
        List<Object> now = stamps(config);
        if (now.equals(stamps)) {
            return false;
        }
        stamps = now; // a failure is not retried until the files change again
        Loaded l;
        try {
            TlsMaterial m = TlsMaterial.load(config);
            if (Arrays.equals(m.digest(), before.digest())) {
                return false; // touched, not changed
            }
            l = build(config, m);
        } catch (ConfigException e) {
            log.warn("TLS files changed but were not loaded, new handshakes keep the certificate in use ({}): {}",
                    TlsMaterial.describe(before.leaf()), e.getMessage());
            return false;
        }
        synchronized (this) {
            if (current.config != config) {
                ReferenceCountUtil.release(l.ssl); // update() replaced the config meanwhile: its files win
                return false;
            }
        }
        swap(l);
        log.info("TLS certificate reloaded from {}: {}, valid until {}; new handshakes use it", config.certificate(),
                TlsMaterial.describe(l.material.leaf()), l.material.leaf().getNotAfter().toInstant());
        return true;
    }

    private void swap(Loaded next) {
        Loaded old;
        synchronized (this) {
            if (closed) {
                ReferenceCountUtil.release(next.ssl);
                return;
            }
            old = current;
            current = next;
        }
        ReferenceCountUtil.release(old.ssl);
    }

    /** Size, modification time and file identity of each file (following links); a file that cannot be read counts as its error. */
    private static List<Object> stamps(TlsConfig config) {
        List<Object> out = new ArrayList<>();
        for (Path p : config.files()) {
            try {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                out.add(List.of(a.size(), a.lastModifiedTime(), String.valueOf(a.fileKey())));
            } catch (IOException | SecurityException e) {
                out.add(e.getClass().getName());
            }
        }
        return out;
    }

    private void watch() {
        while (!closed) {
            long millis;
            synchronized (this) {
                millis = current.config.reloadInterval().toMillis();
            }
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                return; // closed
            }
            if (!closed) {
                try {
                    reloadIfChanged();
                } catch (RuntimeException e) {
                    log.warn("TLS reload check failed; trying again in {} ms", millis, e);
                }
            }
        }
    }

    /** Stops watching and releases the context; connections still open keep theirs until they end. Idempotent. */
    @Override
    public void close() {
        Loaded l;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            l = current;
        }
        watcher.interrupt();
        ReferenceCountUtil.release(l.ssl);
    }
}
