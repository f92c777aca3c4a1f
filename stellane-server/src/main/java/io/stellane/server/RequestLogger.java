package io.stellane.server;

import org.slf4j.Logger;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.spi.LoggingEventBuilder;

/** A logger that prefixes every message with {@code [req <id>]} and delegates to the server's logger. */
final class RequestLogger extends LegacyAbstractLogger {
    private final transient Logger delegate;
    private final String prefix;
    private final String requestId;

    RequestLogger(Logger delegate, String requestId) {
        this.delegate = delegate;
        this.name = delegate.getName();
        this.prefix = "[req " + requestId + "] ";
        this.requestId = requestId;
    }

    @Override
    protected String getFullyQualifiedCallerName() {
        return null;
    }

    @Override
    protected void handleNormalizedLoggingCall(Level level, Marker marker, String messagePattern,
                                               Object[] arguments, Throwable throwable) {
        // the id both in the text (plain backends) and as a key-value pair (structured encoders)
        LoggingEventBuilder b = delegate.atLevel(level).setMessage(prefix + messagePattern).addKeyValue("requestId", requestId);
        if (marker != null) {
            b = b.addMarker(marker);
        }
        if (arguments != null) {
            for (Object a : arguments) {
                b = b.addArgument(a);
            }
        }
        if (throwable != null) {
            b = b.setCause(throwable);
        }
        b.log();
    }

    @Override
    public boolean isTraceEnabled() {
        return delegate.isTraceEnabled();
    }

    @Override
    public boolean isDebugEnabled() {
        return delegate.isDebugEnabled();
    }

    @Override
    public boolean isInfoEnabled() {
        return delegate.isInfoEnabled();
    }

    @Override
    public boolean isWarnEnabled() {
        return delegate.isWarnEnabled();
    }

    @Override
    public boolean isErrorEnabled() {
        return delegate.isErrorEnabled();
    }
}
