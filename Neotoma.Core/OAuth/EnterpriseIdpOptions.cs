using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.OAuth;

/// <summary>
/// One organization's identity provider that Neotoma trusts to grant access with an ID-JAG: its
/// <see cref="Issuer"/> (discovery and keys are read from it), for Entra ID the <see cref="Tenants"/>
/// allowed (never "any tenant"), the <see cref="Clients"/> it may grant access to, the most it may grant
/// (<see cref="Scopes"/>), and how long an access token from its grant lives.
/// </summary>
public sealed record EnterpriseIdp(
    string Issuer, IReadOnlyList<string> Tenants, IReadOnlyList<string> Clients, IReadOnlyList<string> Scopes, TimeSpan AccessTokenLifetime);

/// <summary>
/// The trusted enterprise IdPs, from the one JSON setting <c>ENTERPRISE_IDPS</c> (docs/configuration.md):
/// an array of <c>{"issuer", "tenants", "clients", "scopes", "access_token_minutes"}</c>. Empty: the JWT
/// bearer grant refuses every ID-JAG as from an untrusted issuer.
/// </summary>
public sealed record EnterpriseIdpOptions
{
    public const int DefaultAccessTokenMinutes = 15;

    public const int MaxAccessTokenMinutes = 60;

    public IReadOnlyList<EnterpriseIdp> Idps { get; set; } = [];

    /// <summary>What is wrong with the setting, each problem once; the validator reports them at start.</summary>
    public IReadOnlyList<string> Problems { get; set; } = [];

    public EnterpriseIdp? Find(string issuer) => Idps.FirstOrDefault(idp => string.Equals(idp.Issuer, issuer, StringComparison.Ordinal));

    /// <summary>Entra ID's token issuers: their tokens carry tid, and a trusted one must name its tenants.</summary>
    public static bool IsEntra(Uri issuer) =>
        issuer.Host.Equals("login.microsoftonline.com", StringComparison.OrdinalIgnoreCase)
        || issuer.Host.Equals("sts.windows.net", StringComparison.OrdinalIgnoreCase)
        || issuer.Host.EndsWith(".ciamlogin.com", StringComparison.OrdinalIgnoreCase)
        || issuer.Host.Equals("login.microsoftonline.us", StringComparison.OrdinalIgnoreCase)
        || issuer.Host.Equals("login.partner.microsoftonline.cn", StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads the setting; never throws (a malformed value leaves <see cref="Problems"/> for the validator).</summary>
    public static EnterpriseIdpOptions Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return new EnterpriseIdpOptions();
        }

        var problems = new List<string>();
        var idps = new List<EnterpriseIdp>();
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return Fail("must be a JSON array of trusted IdPs");
            }

            var index = 0;
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                if (ParseOne(entry, $"entry {index++}", problems) is { } idp)
                {
                    if (idps.Any(known => known.Issuer == idp.Issuer))
                    {
                        problems.Add($"{SettingNames.EnterpriseIdps}: issuer '{idp.Issuer}' is listed twice; list each IdP once.");
                    }

                    idps.Add(idp);
                }
            }
        }
        catch (JsonException e)
        {
            return Fail($"is not JSON ({e.Message})");
        }

        return new EnterpriseIdpOptions { Idps = idps, Problems = problems };

        static EnterpriseIdpOptions Fail(string reason) => new()
        {
            Problems = [$"{SettingNames.EnterpriseIdps} {reason}: [{{\"issuer\": \"https://…\", \"tenants\": [], \"clients\": [\"…\"], \"scopes\": [\"neotoma:read\"]}}]. See docs/configuration.md."],
        };
    }

    private static EnterpriseIdp? ParseOne(JsonElement entry, string where, List<string> problems)
    {
        void Problem(string text) => problems.Add($"{SettingNames.EnterpriseIdps} {where}: {text}");
        if (entry.ValueKind != JsonValueKind.Object)
        {
            Problem("must be an object with issuer, clients and scopes.");
            return null;
        }

        var issuer = entry.TryGetProperty("issuer", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : "";
        where = issuer.Length > 0 ? $"'{issuer}'" : where;
        if (!Uri.TryCreate(issuer, UriKind.Absolute, out var uri) || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment)
            || !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)))
        {
            Problem("issuer must be the IdP's issuer URL exactly as its tokens carry it: https (http only on loopback, for the dev provider), without query or fragment.");
            return null;
        }

        var tenants = Strings(entry, "tenants", Problem);
        var clients = Strings(entry, "clients", Problem);
        var scopes = Strings(entry, "scopes", Problem);
        if (IsEntra(uri))
        {
            if (tenants.Count == 0)
            {
                Problem("Entra ID needs tenants: the tenant ids (GUIDs) whose people may be granted access; any tenant is never accepted.");
            }
            else if (tenants.FirstOrDefault(t => !Guid.TryParse(t, out _)) is { } notGuid)
            {
                Problem($"tenant '{notGuid}' is not a tenant id (a GUID); 'common', 'organizations' and 'consumers' are never accepted.");
            }
        }

        if (clients.Count == 0)
        {
            Problem("clients must list the client_ids this IdP may grant access to (pre-registered with ./neotoma register-enterprise-client, or metadata-document URLs).");
        }

        if (scopes.Count == 0 || scopes.Any(scope => !NeotomaScopes.ResourceScopes.Contains(scope)))
        {
            Problem($"scopes must list the most this IdP may grant, from {string.Join(", ", NeotomaScopes.ResourceScopes)}.");
        }

        var minutes = DefaultAccessTokenMinutes;
        if (entry.TryGetProperty("access_token_minutes", out var m) && !(m.TryGetInt32(out minutes) && minutes is >= 1 and <= MaxAccessTokenMinutes))
        {
            Problem($"access_token_minutes must be 1 to {MaxAccessTokenMinutes}.");
        }

        return new EnterpriseIdp(issuer, tenants, clients, scopes, TimeSpan.FromMinutes(minutes));
    }

    private static List<string> Strings(JsonElement entry, string name, Action<string> problem)
    {
        if (!entry.TryGetProperty(name, out var array))
        {
            return [];
        }

        if (array.ValueKind != JsonValueKind.Array || array.EnumerateArray().Any(item => item.ValueKind != JsonValueKind.String || item.GetString()!.Length == 0))
        {
            problem($"{name} must be an array of non-empty strings.");
            return [];
        }

        return array.EnumerateArray().Select(item => item.GetString()!).Distinct(StringComparer.Ordinal).ToList();
    }
}

/// <summary>ENTERPRISE_IDPS reports every problem at start, with the rest of the settings.</summary>
internal sealed class EnterpriseIdpOptionsValidator : IValidateOptions<EnterpriseIdpOptions>
{
    public ValidateOptionsResult Validate(string? name, EnterpriseIdpOptions options) => Settings.Result(options.Problems);

    public static void Bind(EnterpriseIdpOptions options, IConfiguration configuration)
    {
        var parsed = EnterpriseIdpOptions.Parse(Settings.Text(configuration, SettingNames.EnterpriseIdps));
        options.Idps = parsed.Idps;
        options.Problems = parsed.Problems;
    }
}
