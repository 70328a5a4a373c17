using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// The private keys of a confidential client (one RSA, one P-256), its JWKS as it would publish it, and
/// client assertions (RFC 7523) signed as such a client signs them, or as an attacker forges them: the
/// JWT is assembled here byte by byte, so a test can send any header, any claims, any algorithm.
/// </summary>
public sealed class ClientKeys : IDisposable
{
    public const string AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    private readonly RSA rsa = RSA.Create(2048);
    private readonly ECDsa ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public ClientKeys(string kidPrefix = "test")
    {
        RsaKid = kidPrefix + "-rsa";
        EcKid = kidPrefix + "-ec";
    }

    public string RsaKid { get; }

    public string EcKid { get; }

    /// <summary>The public half of both keys, as a client serves it at its jwks_uri.</summary>
    public string Jwks()
    {
        var r = rsa.ExportParameters(false);
        var e = ec.ExportParameters(false);
        return JsonSerializer.Serialize(new
        {
            keys = new object[]
            {
                new { kty = "RSA", use = "sig", kid = RsaKid, n = Base64UrlEncoder.Encode(r.Modulus), e = Base64UrlEncoder.Encode(r.Exponent) },
                new { kty = "EC", use = "sig", kid = EcKid, crv = "P-256", x = Base64UrlEncoder.Encode(e.Q.X), y = Base64UrlEncoder.Encode(e.Q.Y) },
            },
        });
    }

    /// <summary>The claims a client puts in its assertion: iss = sub = client_id, aud, a 60 s exp and a fresh jti.</summary>
    public static Dictionary<string, object> Claims(string clientId, string audience) => new()
    {
        ["iss"] = clientId,
        ["sub"] = clientId,
        ["aud"] = audience,
        ["iat"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        ["exp"] = DateTimeOffset.UtcNow.AddSeconds(60).ToUnixTimeSeconds(),
        ["jti"] = Guid.NewGuid().ToString("N"),
    };

    /// <summary>
    /// A JWS over <paramref name="claims"/>: RS256 and PS256 with the RSA key, ES256 with the EC key,
    /// HS256 keyed with the RSA public key's PEM (the algorithm-confusion forgery), none unsigned.
    /// </summary>
    public string Sign(IDictionary<string, object> claims, string alg = "RS256", string? kid = null, string typ = "JWT")
    {
        kid ??= alg == "ES256" ? EcKid : RsaKid;
        var header = Base64UrlEncoder.Encode(JsonSerializer.Serialize(new Dictionary<string, string> { ["alg"] = alg, ["typ"] = typ, ["kid"] = kid }));
        var input = header + "." + Base64UrlEncoder.Encode(JsonSerializer.Serialize(claims));
        var bytes = Encoding.ASCII.GetBytes(input);
        var signature = alg switch
        {
            "RS256" => rsa.SignData(bytes, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            "PS256" => rsa.SignData(bytes, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
            "ES256" => ec.SignData(bytes, HashAlgorithmName.SHA256),
            "HS256" => HMACSHA256.HashData(Encoding.ASCII.GetBytes(rsa.ExportSubjectPublicKeyInfoPem()), bytes),
            "none" => [],
            _ => throw new ArgumentOutOfRangeException(nameof(alg), alg, null),
        };
        return input + "." + Base64UrlEncoder.Encode(signature);
    }

    /// <summary><paramref name="form"/> with a client assertion added (RFC 7523 §2.2).</summary>
    public static Dictionary<string, string> WithAssertion(IDictionary<string, string> form, string assertion) => new(form)
    {
        ["client_assertion_type"] = AssertionType,
        ["client_assertion"] = assertion,
    };

    public void Dispose()
    {
        rsa.Dispose();
        ec.Dispose();
    }
}
