package io.stellane.server;

import java.util.UUID;

/** String to typed value for parameters; a bad value is the client's fault: a 400. */
final class Conversions {
    private Conversions() {
    }

    static int toInt(String v, String what) {
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new HttpException(400, what + " must be an integer");
        }
    }

    static long toLong(String v, String what) {
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new HttpException(400, what + " must be an integer");
        }
    }

    @SuppressWarnings("unchecked")
    static <T> T convert(String v, Class<T> type, String what) {
        Object out;
        try {
            if (type == String.class) {
                out = v;
            } else if (type == int.class || type == Integer.class) {
                out = Integer.parseInt(v);
            } else if (type == long.class || type == Long.class) {
                out = Long.parseLong(v);
            } else if (type == double.class || type == Double.class) {
                out = Double.parseDouble(v);
            } else if (type == boolean.class || type == Boolean.class) {
                if (!v.equalsIgnoreCase("true") && !v.equalsIgnoreCase("false")) {
                    throw new IllegalArgumentException();
                }
                out = Boolean.parseBoolean(v);
            } else if (type == UUID.class) {
                out = UUID.fromString(v);
            } else {
                throw new IllegalArgumentException("cannot convert parameters to " + type.getName()
                        + "; use String, int, long, double, boolean or UUID");
            }
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("cannot convert")) {
                throw e;
            }
            throw new HttpException(400, what + " must be " + (type.isPrimitive() ? "a " + type.getName()
                    : "a " + type.getSimpleName()));
        }
        return (T) out;
    }
}
