package io.stellane.server;

import org.slf4j.ILoggerFactory;
import org.slf4j.LoggerFactory;
import org.slf4j.helpers.NOPLoggerFactory;

import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A server whose log goes nowhere hides the one thing a 500 leaves behind: its handler's exception.
 * Without a provider SLF4J falls back to discarding everything, after three lines of its own on
 * stderr at startup that say nothing about what will be lost; this says it once per process, on
 * stderr, since a logger is exactly what is missing.
 */
final class NoLoggingWarning {
    static final String MESSAGE = "Stellane: SLF4J has no logging provider (none on the class path, or slf4j-nop),"
            + " so the server's log goes nowhere, and with it the exception of every request answered 500."
            + " Add a provider: org.slf4j:slf4j-simple (writes to stderr) or ch.qos.logback:logback-classic.";
    private static final AtomicBoolean SAID = new AtomicBoolean();

    private NoLoggingWarning() {
    }

    static void sayOnce() {
        sayOnce(LoggerFactory.getILoggerFactory(), System.err, SAID);
    }

    /** Prints {@link #MESSAGE} on {@code err} when {@code loggers} discards everything, once per {@code said}; whether it printed. */
    static boolean sayOnce(ILoggerFactory loggers, PrintStream err, AtomicBoolean said) {
        if (loggers instanceof NOPLoggerFactory && said.compareAndSet(false, true)) {
            err.println(MESSAGE);
            return true;
        }
        return false;
    }
}
