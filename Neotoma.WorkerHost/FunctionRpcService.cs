using Grpc.Core;
using Neotoma.WorkerHost.Rpc;

namespace Neotoma.WorkerHost;

/// <summary>
/// The gRPC service the worker connects to. The worker opens the stream with StartStream naming
/// the worker id it was started with (the worker sends no request id there); the host hands the stream to the <see cref="WorkerChannel"/>
/// it created for that worker and keeps the call open until the stream ends.
/// </summary>
internal sealed class FunctionRpcService(WorkerRegistry workers) : FunctionRpc.FunctionRpcBase
{
    public override async Task EventStream(IAsyncStreamReader<StreamingMessage> requestStream, IServerStreamWriter<StreamingMessage> responseStream, ServerCallContext context)
    {
        if (!await requestStream.MoveNext(context.CancellationToken)
            || requestStream.Current.ContentCase != StreamingMessage.ContentOneofCase.StartStream)
        {
            throw new Grpc.Core.RpcException(new Status(StatusCode.InvalidArgument, "The first message must be StartStream."));
        }

        var start = requestStream.Current;
        if (!workers.TryTake(start.StartStream.WorkerId, out var channel))
        {
            throw new Grpc.Core.RpcException(new Status(StatusCode.PermissionDenied, $"No worker '{start.StartStream.WorkerId}' was started by this host."));
        }

        await channel.RunAsync(requestStream, responseStream, context.CancellationToken);
    }
}

/// <summary>Workers this host started and is waiting to hear from, by worker id.</summary>
internal sealed class WorkerRegistry
{
    private readonly Dictionary<string, (TaskCompletionSource<WorkerChannel> Connected, WorkerChannel Channel)> expected = [];

    public Task<WorkerChannel> Expect(string workerId, WorkerChannel channel)
    {
        var connected = new TaskCompletionSource<WorkerChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (expected)
        {
            expected[workerId] = (connected, channel);
        }

        return connected.Task;
    }

    public bool TryTake(string workerId, out WorkerChannel channel)
    {
        lock (expected)
        {
            if (expected.Remove(workerId, out var entry))
            {
                channel = entry.Channel;
                entry.Connected.TrySetResult(channel);
                return true;
            }
        }

        channel = null!;
        return false;
    }
}
