using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Security.KeyVault.Secrets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Neotoma.Core.Security;

public sealed record KeyVaultOptions
{
    public required Uri VaultUri { get; set; }

    public required string SecretName { get; set; }

    /// <summary>How many previous versions of the secret still decrypt (newest first).</summary>
    public int PreviousVersions { get; set; } = 10;
}

/// <summary>
/// Loads the encryption key from Azure Key Vault once at start-up (never per request): the
/// latest enabled version encrypts, earlier enabled versions still decrypt. If the vault cannot
/// be read, it says which vault, secret and credential, and keeps retrying with backoff while
/// the app serves what it can (health says 503).
/// </summary>
public sealed partial class EncryptionKeyLoader(
    KeyRing ring, SecretClient client, KeyVaultOptions options, TokenCredential credential, TimeProvider timeProvider, ILogger<EncryptionKeyLoader> logger)
    : IHostedService, IDisposable
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(1);
    private readonly CancellationTokenSource stopping = new();
    private Task? retries;

    public string Describe() => $"secret '{options.SecretName}' in Key Vault {options.VaultUri} with {credential.GetType().Name}";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (await TryLoadAsync(attempt: 1, cancellationToken))
        {
            return;
        }

        retries = RetryAsync(stopping.Token);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync();
        if (retries is not null)
        {
            await Task.WhenAny(retries, Task.Delay(Timeout.Infinite, cancellationToken));
        }
    }

    public void Dispose() => stopping.Dispose();

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var latest = (await client.GetSecretAsync(options.SecretName, cancellationToken: cancellationToken)).Value;
        var versions = new List<SecretProperties>();
        await foreach (var version in client.GetPropertiesOfSecretVersionsAsync(options.SecretName, cancellationToken))
        {
            if (version.Enabled == true && version.Version != latest.Properties.Version)
            {
                versions.Add(version);
            }
        }

        var previous = new List<string>();
        foreach (var version in versions.OrderByDescending(v => v.CreatedOn).Take(options.PreviousVersions))
        {
            previous.Add((await client.GetSecretAsync(options.SecretName, version.Version, cancellationToken)).Value.Value);
        }

        ring.Set(latest.Value, previous, $"Key Vault secret '{options.SecretName}'");
        KeyLoaded(logger, options.SecretName, options.VaultUri.ToString(), previous.Count);
    }

    private async Task RetryAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(2), MaxDelay);
        for (var attempt = 2; !cancellationToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await Task.Delay(backoff.Next(), timeProvider, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (await TryLoadAsync(attempt, cancellationToken))
            {
                return;
            }
        }
    }

    private async Task<bool> TryLoadAsync(int attempt, CancellationToken cancellationToken)
    {
        try
        {
            await LoadAsync(cancellationToken);
            return true;
        }
        catch (Exception e) when (e is RequestFailedException or AuthenticationFailedException or CredentialUnavailableException
            or HttpRequestException or OAuthException or AggregateException)
        {
            var reason = e switch
            {
                RequestFailedException { Status: 403 } => "access denied: give the app's identity the 'Key Vault Secrets User' role on the vault",
                RequestFailedException { Status: 404 } => "the secret does not exist",
                RequestFailedException { Status: 0 } failed => "the vault is unreachable: " + (failed.InnerException?.Message ?? failed.Message),
                RequestFailedException failed => $"HTTP {failed.Status} {failed.ErrorCode}",
                OAuthException invalid => invalid.Message,
                _ => e.Message,
            };
            var error = $"could not read {Describe()}: {reason}";
            ring.Fail(error);
            KeyLoadFailed(logger, error, attempt);
            return false;
        }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Information,
        Message = "Loaded the encryption key from Key Vault secret '{SecretName}' at {VaultUri} ({PreviousCount} previous version(s) still decrypt)")]
    private static partial void KeyLoaded(ILogger logger, string secretName, string vaultUri, int previousCount);

    [LoggerMessage(EventId = 401, Level = LogLevel.Error, Message = "OAUTH_ENCRYPTION_KEY_MISSING: {Error} (attempt {Attempt}; retrying with backoff)")]
    private static partial void KeyLoadFailed(ILogger logger, string error, int attempt);
}
