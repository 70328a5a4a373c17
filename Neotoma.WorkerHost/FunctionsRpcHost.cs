using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Cronos;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Neotoma.WorkerHost.Rpc;
using Yarp.ReverseProxy.Forwarder;

namespace Neotoma.WorkerHost;

/// <summary>What the host is started with.</summary>
public sealed record FunctionsRpcHostOptions
{
    /// <summary>The built function app: worker.config.json, functions.metadata, host.json and the worker's assembly.</summary>
    public required string AppDirectory { get; init; }

    /// <summary>App settings, passed to the worker as environment variables (':' becomes '__', as on Azure).</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();

    /// <summary>The public HTTP port (the Functions host's own), on 127.0.0.1; 0 picks a free one.</summary>
    public int Port { get; init; }

    /// <summary>Listen on "localhost" (IPv4 and IPv6 loopback, as a browser may try either) instead of 127.0.0.1 alone.</summary>
    public bool Localhost { get; init; }

    /// <summary>The clock the timer schedules run on (a fake one lets a test move time).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Every line the worker logged over RPC or wrote to its console.</summary>
    public Action<WorkerLogLine>? Log { get; init; }

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long an invocation may run (the Functions host's functionTimeout).</summary>
    public TimeSpan InvocationTimeout { get; init; } = TimeSpan.FromMinutes(5);
}

public sealed record WorkerLogLine(string Source, LogLevel Level, string Category, string Message, string? InvocationId);

/// <summary>
/// A small Functions host for tests: starts the built worker as the Azure Functions host starts a
/// .NET isolated worker (same command line and environment), serves the FunctionRpc event stream,
/// performs init → metadata → load, forwards HTTP requests to the worker's own ASP.NET Core server
/// with the invocation id it expects beside a matching InvocationRequest, and fires timer triggers
/// on their schedules (or on demand, as the host's admin API does).
/// </summary>
public sealed class FunctionsRpcHost : IAsyncDisposable
{
    /// <summary>The header the worker's ASP.NET Core integration pairs a request with its invocation by.</summary>
    public const string InvocationIdHeader = "x-ms-invocation-id";

    /// <summary>What the Functions host sends as the gRPC message limit (int.MaxValue).</summary>
    private const int GrpcMaxMessageLength = int.MaxValue;

    private readonly FunctionsRpcHostOptions options;
    private readonly ConcurrentQueue<WorkerLogLine> logs = new();
    private readonly CancellationTokenSource stopping = new();
    private readonly List<Task> schedules = [];
    private WebApplication? control;
    private WebApplication? front;
    private Process? worker;
    private WorkerChannel? channel;
    private HttpMessageInvoker? forwarding;

    private FunctionsRpcHost(FunctionsRpcHostOptions options)
    {
        this.options = options;
        MasterKey = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
    }

    /// <summary>The host's public address, where HTTP triggers are served.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Where the worker's own ASP.NET Core server listens (the HttpUri capability it advertised).</summary>
    public Uri WorkerHttpUri { get; private set; } = null!;

    /// <summary>The functions the worker described and this host loaded.</summary>
    public IReadOnlyList<HostedFunction> Functions { get; private set; } = [];

    /// <summary>The capabilities the worker answered WorkerInitRequest with.</summary>
    public IReadOnlyDictionary<string, string> WorkerCapabilities { get; private set; } = new Dictionary<string, string>();

    /// <summary>The key the admin API (<c>POST /admin/functions/{name}</c>) requires in x-functions-key.</summary>
    public string MasterKey { get; }

    public IReadOnlyCollection<WorkerLogLine> Logs => logs;

    public int WorkerProcessId => worker?.Id ?? 0;

    /// <summary>How many times a worker that could not bind its own HTTP port is started before the host gives up.</summary>
    private const int WorkerStarts = 3;

    /// <summary>
    /// Starts the worker and waits until it serves HTTP. The worker picks its own HTTP port (the
    /// ASP.NET Core integration asks the kernel for a free one, releases it and binds it again; no
    /// setting chooses it), so in between another process may take it, as any outgoing connection
    /// can. Such a start ends with the worker exiting on "address already in use"; the worker is
    /// then started again, as the Functions host restarts a worker that failed to start.
    /// </summary>
    public static async Task<FunctionsRpcHost> StartAsync(FunctionsRpcHostOptions options, CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            var host = new FunctionsRpcHost(options);
            try
            {
                await host.StartCoreAsync(cancellationToken);
                return host;
            }
            catch (WorkerPortTakenException e) when (attempt < WorkerStarts)
            {
                await host.DisposeAsync();
                options.Log?.Invoke(new WorkerLogLine("host", LogLevel.Warning, "Host.Worker", $"Starting the worker again (attempt {attempt + 1} of {WorkerStarts}): {e.Message}", null));
            }
            catch
            {
                await host.DisposeAsync();
                throw;
            }
        }
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        var appDirectory = Path.GetFullPath(options.AppDirectory);
        var workerConfig = WorkerConfig.Read(appDirectory);

        // The RPC endpoint: HTTP/2 without TLS on loopback, as the Functions host serves it to its workers.
        var registry = new WorkerRegistry();
        var controlBuilder = WebApplication.CreateSlimBuilder();
        controlBuilder.Logging.ClearProviders();
        controlBuilder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        controlBuilder.Services.AddSingleton(registry);
        controlBuilder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = null;
            grpc.MaxSendMessageSize = null;
        });
        control = controlBuilder.Build();
        control.MapGrpcService<FunctionRpcService>();
        await control.StartAsync(cancellationToken);
        var rpcUri = new Uri(control.Urls.Single());

        var workerId = Guid.NewGuid().ToString();
        var requestId = Guid.NewGuid().ToString();
        channel = new WorkerChannel(Record);
        var connected = registry.Expect(workerId, channel);
        worker = StartWorker(workerConfig, appDirectory, rpcUri, workerId, requestId);

        var exited = worker.WaitForExitAsync(cancellationToken);
        if (await Task.WhenAny(connected, exited, Task.Delay(options.StartTimeout, cancellationToken)) != connected)
        {
            throw StartFailure(worker.HasExited ? $"The worker exited with code {worker.ExitCode} before it connected." : "The worker did not connect in time.");
        }

        await InitializeAsync(appDirectory, cancellationToken);
        Functions = await LoadFunctionsAsync(appDirectory, cancellationToken);
        await WaitUntilWorkerServesHttpAsync(cancellationToken);
        await StartFrontAsync(appDirectory, cancellationToken);
        foreach (var function in Functions.Where(function => function.IsTimer))
        {
            schedules.Add(RunScheduleAsync(function, stopping.Token));
        }
    }

    /// <summary>
    /// The worker advertises its HttpUri before its ASP.NET Core server has bound it: requests are
    /// forwarded only once that port accepts connections, or the start fails with why.
    /// </summary>
    private async Task WaitUntilWorkerServesHttpAsync(CancellationToken cancellationToken)
    {
        // Real time, not options.Time: a test's fake clock does not move while the worker starts.
        var waited = Stopwatch.StartNew();
        while (true)
        {
            using var probe = new System.Net.Sockets.TcpClient();
            try
            {
                await probe.ConnectAsync(WorkerHttpUri.Host, WorkerHttpUri.Port, cancellationToken);
                return;
            }
            catch (System.Net.Sockets.SocketException) when (!worker!.HasExited && waited.Elapsed < options.StartTimeout)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
            }
            catch (System.Net.Sockets.SocketException)
            {
                throw StartFailure(worker!.HasExited
                    ? $"The worker exited with code {worker.ExitCode} before it served HTTP on {WorkerHttpUri}."
                    : $"The worker did not serve HTTP on {WorkerHttpUri} in time.");
            }
        }
    }

    /// <summary>Why a start failed, with the worker's last lines; a port taken under the worker is its own kind, which is retried.</summary>
    private Exception StartFailure(string what)
    {
        var lines = logs.TakeLast(30).Select(line => line.Message).ToArray();
        var message = what + " Its last lines:\n" + string.Join('\n', lines);
        return lines.Any(line => line.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            ? new WorkerPortTakenException(message)
            : new InvalidOperationException(message);
    }

    /// <summary>
    /// The command line and environment of a .NET isolated worker 2.x as the Functions host gives
    /// them: the executable and worker path from worker.config.json, then the legacy switches
    /// (--host, --port, --workerId, --requestId, --grpcMaxMessageLength) and the ones worker 2.x
    /// reads (--functions-uri, --functions-worker-id, --functions-request-id,
    /// --functions-grpc-max-message-length); FUNCTIONS_WORKER_RUNTIME and the app directory in the
    /// environment, beside the app settings.
    /// </summary>
    private Process StartWorker(WorkerConfig config, string appDirectory, Uri rpcUri, string workerId, string requestId)
    {
        var start = new ProcessStartInfo(config.Executable)
        {
            WorkingDirectory = appDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (config.WorkerPath is { } workerPath)
        {
            start.ArgumentList.Add(Path.Combine(appDirectory, workerPath));
        }

        foreach (var argument in (string[])[
            "--host", rpcUri.Host, "--port", rpcUri.Port.ToString(), "--workerId", workerId, "--requestId", requestId,
            "--grpcMaxMessageLength", GrpcMaxMessageLength.ToString(),
            "--functions-uri", rpcUri.ToString(), "--functions-worker-id", workerId, "--functions-request-id", requestId,
            "--functions-grpc-max-message-length", GrpcMaxMessageLength.ToString()])
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in options.Settings)
        {
            start.Environment[name.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        start.Environment["FUNCTIONS_WORKER_RUNTIME"] = "dotnet-isolated";
        start.Environment["FUNCTIONS_APPLICATION_DIRECTORY"] = appDirectory;
        start.Environment["FUNCTIONS_WORKER_DIRECTORY"] = appDirectory;
        start.Environment["AzureWebJobsScriptRoot"] = appDirectory;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {config.Executable}.");
        process.OutputDataReceived += (_, line) => Console(line.Data, LogLevel.Information);
        process.ErrorDataReceived += (_, line) => Console(line.Data, LogLevel.Error);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;

        void Console(string? line, LogLevel level)
        {
            if (line is not null)
            {
                Record(new WorkerLogLine("console", level, "Worker.Console", line, null));
            }
        }
    }

    private async Task InitializeAsync(string appDirectory, CancellationToken cancellationToken)
    {
        var init = await channel!.RequestAsync(WorkerChannel.Keys.Init, new StreamingMessage
        {
            RequestId = Guid.NewGuid().ToString(),
            WorkerInitRequest = new WorkerInitRequest
            {
                HostVersion = "4.1000.0 (Neotoma worker test host)",
                WorkerDirectory = appDirectory,
                FunctionAppDirectory = appDirectory,
            },
        }, options.StartTimeout, cancellationToken);
        Ensure(init.WorkerInitResponse.Result, "initialize");
        WorkerCapabilities = init.WorkerInitResponse.Capabilities.ToDictionary();
        if (!WorkerCapabilities.TryGetValue("HttpUri", out var httpUri))
        {
            throw new InvalidOperationException(
                "The worker did not advertise an HttpUri: it does not serve HTTP triggers through ASP.NET Core (is ConfigureFunctionsWebApplication called in Program.cs?).");
        }

        WorkerHttpUri = new Uri(httpUri);
    }

    private async Task<IReadOnlyList<HostedFunction>> LoadFunctionsAsync(string appDirectory, CancellationToken cancellationToken)
    {
        var metadata = await channel!.RequestAsync(WorkerChannel.Keys.Metadata, new StreamingMessage
        {
            RequestId = Guid.NewGuid().ToString(),
            FunctionsMetadataRequest = new FunctionsMetadataRequest { FunctionAppDirectory = appDirectory },
        }, options.StartTimeout, cancellationToken);
        Ensure(metadata.FunctionMetadataResponse.Result, "describe its functions");
        if (metadata.FunctionMetadataResponse.UseDefaultMetadataIndexing)
        {
            throw new InvalidOperationException("The worker asked for host indexing; a .NET isolated worker indexes its own functions.");
        }

        var functions = metadata.FunctionMetadataResponse.FunctionMetadataResults.Select(HostedFunction.From).ToList();
        await Task.WhenAll(functions.Select(async function =>
        {
            var loaded = await channel.RequestAsync(WorkerChannel.Keys.Load(function.Id), new StreamingMessage
            {
                RequestId = Guid.NewGuid().ToString(),
                FunctionLoadRequest = new FunctionLoadRequest { FunctionId = function.Id, Metadata = function.Metadata },
            }, options.StartTimeout, cancellationToken);
            Ensure(loaded.FunctionLoadResponse.Result, $"load function '{function.Name}'");
        }));
        return functions;
    }

    /// <summary>
    /// The public side: one route per HTTP function (the host.json route prefix before each, ASP.NET
    /// Core's routing as in the Functions host), each request forwarded to the worker beside its
    /// InvocationRequest; and the admin API's "run this function now" for non-HTTP functions.
    /// </summary>
    private async Task StartFrontAsync(string appDirectory, CancellationToken cancellationToken)
    {
        var prefix = WorkerConfig.RoutePrefix(appDirectory);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (options.Localhost)
            {
                kestrel.ListenLocalhost(options.Port);
            }
            else
            {
                kestrel.Listen(IPAddress.Loopback, options.Port);
            }
        });
        builder.Services.AddHttpForwarder();
        front = builder.Build();
        forwarding = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
        });
        var forwarder = front.Services.GetRequiredService<IHttpForwarder>();
        foreach (var function in Functions.Where(function => function.IsHttp))
        {
            var route = string.IsNullOrEmpty(prefix) ? function.Route! : prefix + "/" + function.Route;
            RequestDelegate handler = context => ForwardAsync(context, function, forwarder);
            var endpoint = function.Methods.Count == 0 ? front.Map(route, handler) : front.MapMethods(route, function.Methods, handler);
            endpoint.WithDisplayName(function.Name);
        }

        front.MapPost("/admin/functions/{name}", (string name, HttpContext context) =>
        {
            if (context.Request.Headers["x-functions-key"] != MasterKey)
            {
                return Results.Unauthorized();
            }

            if (Functions.FirstOrDefault(function => function.Name.Equals(name, StringComparison.OrdinalIgnoreCase) && !function.IsHttp) is not { } function)
            {
                return Results.NotFound();
            }

            _ = RunAsync(function.Name, CancellationToken.None);
            return Results.Accepted();
        });
        await front.StartAsync(cancellationToken);
        var address = new Uri(front.Urls.Single());
        BaseAddress = new Uri($"http://127.0.0.1:{address.Port}");
    }

    private async Task ForwardAsync(HttpContext context, HostedFunction function, IHttpForwarder forwarder)
    {
        var invocationId = Guid.NewGuid().ToString();
        var invocation = new InvocationRequest
        {
            InvocationId = invocationId,
            FunctionId = function.Id,
            TraceContext = new RpcTraceContext { TraceParent = Activity.Current?.Id ?? "" },
        };
        invocation.InputData.Add(new ParameterBinding { Name = function.TriggerName, Data = new TypedData { Http = Describe(context.Request) } });
        var answer = channel!.RequestAsync(WorkerChannel.Keys.Invocation(invocationId), new StreamingMessage
        {
            RequestId = Guid.NewGuid().ToString(),
            InvocationRequest = invocation,
        }, options.InvocationTimeout, context.RequestAborted);

        // As the App Service front end does before the host: the client's address in X-Forwarded-For.
        context.Request.Headers.Append("X-Forwarded-For", context.Connection.RemoteIpAddress?.ToString());
        context.Request.Headers[InvocationIdHeader] = invocationId;
        var error = await forwarder.SendAsync(context, WorkerHttpUri.ToString(), forwarding!,
            new ForwarderRequestConfig { ActivityTimeout = options.InvocationTimeout }, HttpTransformer.Default);

        InvocationResponse? response = null;
        try
        {
            response = (await answer).InvocationResponse;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away: as the host does, ask the worker to cancel the invocation.
            channel.TrySend(new StreamingMessage { InvocationCancel = new InvocationCancel { InvocationId = invocationId } });
            return;
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException or IOException)
        {
            Record(new WorkerLogLine("host", LogLevel.Error, "Host.Invocation", $"{function.Name} ({invocationId}): no invocation response: {e.Message}", invocationId));
        }

        if (response?.Result.Status != StatusResult.Types.Status.Success)
        {
            var reason = response?.Result.Exception?.Message ?? (error != ForwarderError.None ? "forwarding: " + error : "no response");
            Record(new WorkerLogLine("host", LogLevel.Error, "Host.Invocation", $"{function.Name} ({invocationId}) failed: {reason}", invocationId));
            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            }
        }
        else if (error != ForwarderError.None && !context.Response.HasStarted)
        {
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
        }
    }

    /// <summary>The request as the host describes it in the invocation (the body itself travels over HTTP).</summary>
    private static RpcHttp Describe(HttpRequest request)
    {
        var http = new RpcHttp
        {
            Method = request.Method,
            Url = $"{request.Scheme}://{request.Host}{request.PathBase}{request.Path}{request.QueryString}",
        };
        foreach (var (name, value) in request.Headers)
        {
            http.Headers[name.ToLowerInvariant()] = value.ToString();
        }

        foreach (var (name, value) in request.Query)
        {
            http.Query[name] = value.ToString();
        }

        foreach (var (name, value) in request.RouteValues)
        {
            if (value is not null)
            {
                http.Params[name] = value.ToString();
            }
        }

        return http;
    }

    /// <summary>Fires a non-HTTP function now and waits for the worker's answer (a timer gets a TimerInfo that is not past due).</summary>
    public async Task<InvocationResponse> RunAsync(string functionName, CancellationToken cancellationToken = default)
    {
        var function = Functions.First(function => function.Name == functionName);
        return await InvokeTimerAsync(function, last: null, next: NextOccurrence(function, options.Time.GetUtcNow()), cancellationToken);
    }

    /// <summary>When the schedule fires next after <paramref name="after"/>, in UTC (NCRONTAB with seconds, app settings resolved).</summary>
    public DateTimeOffset? NextOccurrence(HostedFunction function, DateTimeOffset after) =>
        CronExpression.Parse(ResolveSetting(function.Schedule!), CronFormat.IncludeSeconds).GetNextOccurrence(after, TimeZoneInfo.Utc);

    private async Task RunScheduleAsync(HostedFunction function, CancellationToken cancellationToken)
    {
        DateTimeOffset? last = null;
        try
        {
            if (function.RunOnStartup)
            {
                await InvokeTimerAsync(function, last, NextOccurrence(function, options.Time.GetUtcNow()), cancellationToken);
            }

            while (!cancellationToken.IsCancellationRequested)
            {
                var now = options.Time.GetUtcNow();
                if (NextOccurrence(function, now) is not { } next)
                {
                    return;
                }

                await Task.Delay(next - now, options.Time, cancellationToken);
                var response = await InvokeTimerAsync(function, last, NextOccurrence(function, next), cancellationToken);
                if (response.Result.Status != StatusResult.Types.Status.Success)
                {
                    Record(new WorkerLogLine("host", LogLevel.Error, "Host.Timer", $"{function.Name} failed: {response.Result.Exception?.Message}", response.InvocationId));
                }

                last = next;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task<InvocationResponse> InvokeTimerAsync(HostedFunction function, DateTimeOffset? last, DateTimeOffset? next, CancellationToken cancellationToken)
    {
        var invocationId = Guid.NewGuid().ToString();
        var timer = JsonSerializer.Serialize(new
        {
            Schedule = new { AdjustForDST = true },
            ScheduleStatus = new { Last = last ?? DateTimeOffset.MinValue, Next = next, LastUpdated = options.Time.GetUtcNow() },
            IsPastDue = false,
        });
        var invocation = new InvocationRequest { InvocationId = invocationId, FunctionId = function.Id, TraceContext = new RpcTraceContext() };
        invocation.InputData.Add(new ParameterBinding { Name = function.TriggerName, Data = new TypedData { Json = timer } });
        invocation.TriggerMetadata[function.TriggerName] = new TypedData { Json = timer };
        var answer = await channel!.RequestAsync(WorkerChannel.Keys.Invocation(invocationId), new StreamingMessage
        {
            RequestId = Guid.NewGuid().ToString(),
            InvocationRequest = invocation,
        }, options.InvocationTimeout, cancellationToken);
        return answer.InvocationResponse;
    }

    /// <summary>A schedule may name an app setting as %NAME%, as the Functions host allows.</summary>
    private string ResolveSetting(string expression) =>
        expression.Length > 2 && expression[0] == '%' && expression[^1] == '%'
            ? options.Settings.GetValueOrDefault(expression[1..^1]) ?? throw new InvalidOperationException($"The schedule names the app setting {expression}, which is not set.")
            : expression;

    private static void Ensure(StatusResult result, string what)
    {
        if (result.Status != StatusResult.Types.Status.Success)
        {
            throw new InvalidOperationException($"The worker could not {what}: {result.Exception?.Message ?? result.Result}");
        }
    }

    private void Record(RpcLog log) => Record(new WorkerLogLine("rpc", (LogLevel)(int)log.Level, log.Category, log.Message, log.InvocationId is { Length: > 0 } id ? id : null));

    private void Record(WorkerLogLine line)
    {
        logs.Enqueue(line);
        while (logs.Count > 10_000)
        {
            logs.TryDequeue(out _);
        }

        options.Log?.Invoke(line);
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        if (worker is { HasExited: false })
        {
            // As the host stops a worker: WorkerTerminate with a grace period, then the process is ended.
            channel?.TrySend(new StreamingMessage { WorkerTerminate = new WorkerTerminate { GracePeriod = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(5)) } });

            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await worker.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                worker.Kill(entireProcessTree: true);
                await worker.WaitForExitAsync();
            }
        }

        await Task.WhenAll(schedules).ContinueWith(_ => { }, TaskScheduler.Default);
        foreach (var app in new[] { front, control })
        {
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }

        forwarding?.Dispose();
        worker?.Dispose();
        stopping.Dispose();
    }
}

/// <summary>The worker could not bind the HTTP port it picked for itself: another process took it first.</summary>
public sealed class WorkerPortTakenException(string message) : Exception(message);
