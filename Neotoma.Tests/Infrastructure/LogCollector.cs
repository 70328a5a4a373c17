using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Neotoma.Tests.Infrastructure;

/// <summary>Keeps every formatted log line (with its exception) of the app under test.</summary>
public sealed class LogCollector : ILoggerProvider
{
    private readonly ConcurrentQueue<string> lines = new();

    public IReadOnlyList<string> Lines => lines.ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, lines);

    /// <summary>A line logged in another process (the worker, over the Functions RPC protocol).</summary>
    public void Add(LogLevel level, string category, string message) => lines.Enqueue($"{level} {category}: {message} ");

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
