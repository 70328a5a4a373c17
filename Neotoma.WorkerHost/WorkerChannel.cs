using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;
using Neotoma.WorkerHost.Rpc;

namespace Neotoma.WorkerHost;

/// <summary>
/// The host's end of one worker's event stream: messages to the worker go through one writer
/// (gRPC allows one write at a time), and each answer the host waits for is matched to its
/// request (init and metadata by kind, loads by function id, invocations by invocation id).
/// </summary>
internal sealed class WorkerChannel
{
    private readonly Channel<StreamingMessage> outbound = Channel.CreateUnbounded<StreamingMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, TaskCompletionSource<StreamingMessage>> pending = new();
    private readonly Action<RpcLog> log;
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WorkerChannel(Action<RpcLog> log)
    {
        this.log = log;
    }

    /// <summary>Completes when the worker's stream ends (the worker stopped or the host is shutting down).</summary>
    public Task Closed => closed.Task;

    public async Task<StreamingMessage> RequestAsync(string key, StreamingMessage message, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var answer = new TaskCompletionSource<StreamingMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!pending.TryAdd(key, answer))
        {
            throw new InvalidOperationException($"A request '{key}' is already waiting for the worker.");
        }

        try
        {
            Send(message);
            return await answer.Task.WaitAsync(timeout, cancellationToken);
        }
        finally
        {
            pending.TryRemove(key, out _);
        }
    }

    public void Send(StreamingMessage message)
    {
        if (!TrySend(message))
        {
            throw new InvalidOperationException("The worker's stream is closed.");
        }
    }

    /// <summary>Sends unless the stream is already closed (a notice the worker may no longer need).</summary>
    public bool TrySend(StreamingMessage message) => outbound.Writer.TryWrite(message);

    /// <summary>Runs the stream until either side ends it.</summary>
    public async Task RunAsync(IAsyncStreamReader<StreamingMessage> fromWorker, IServerStreamWriter<StreamingMessage> toWorker, CancellationToken cancellationToken)
    {
        var writing = Task.Run(async () =>
        {
            await foreach (var message in outbound.Reader.ReadAllAsync(cancellationToken))
            {
                await toWorker.WriteAsync(message, cancellationToken);
            }
        }, cancellationToken);
        try
        {
            while (await fromWorker.MoveNext(cancellationToken))
            {
                Receive(fromWorker.Current);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException || (e is Grpc.Core.RpcException rpc && rpc.StatusCode == StatusCode.Cancelled))
        {
            // The worker went away or the host is stopping: both end the stream.
        }
        finally
        {
            outbound.Writer.TryComplete();
            foreach (var (_, answer) in pending)
            {
                answer.TrySetException(new IOException("The worker's stream ended before it answered."));
            }

            closed.TrySetResult();
        }

        await writing.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private void Receive(StreamingMessage message)
    {
        var key = message.ContentCase switch
        {
            StreamingMessage.ContentOneofCase.WorkerInitResponse => Keys.Init,
            StreamingMessage.ContentOneofCase.FunctionMetadataResponse => Keys.Metadata,
            StreamingMessage.ContentOneofCase.FunctionLoadResponse => Keys.Load(message.FunctionLoadResponse.FunctionId),
            StreamingMessage.ContentOneofCase.InvocationResponse => Keys.Invocation(message.InvocationResponse.InvocationId),
            _ => null,
        };
        if (message.ContentCase == StreamingMessage.ContentOneofCase.RpcLog)
        {
            log(message.RpcLog);
        }
        else if (key is not null && pending.TryGetValue(key, out var answer))
        {
            answer.TrySetResult(message);
        }
    }

    public static class Keys
    {
        public const string Init = "init";
        public const string Metadata = "metadata";

        public static string Load(string functionId) => "load:" + functionId;

        public static string Invocation(string invocationId) => "invocation:" + invocationId;
    }
}
