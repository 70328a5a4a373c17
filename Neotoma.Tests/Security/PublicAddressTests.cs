using System.Net;
using Neotoma.Core.OAuth;

namespace Neotoma.Tests.Security;

/// <summary>Which addresses a client metadata document may be fetched from: public ones only, however an internal address is spelled.</summary>
public sealed class PublicAddressTests
{
    [Theory]
    [InlineData("93.184.215.14", true)]
    [InlineData("8.8.8.8", true)]
    [InlineData("2606:4700:4700::1111", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("127.255.0.9", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("10.1.2.3", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("192.168.1.1", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("100.128.0.1", true)]
    [InlineData("224.0.0.1", false)]
    [InlineData("255.255.255.255", false)]
    [InlineData("::1", false)]
    [InlineData("::", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd12:3456::1", false)]
    [InlineData("ff02::1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("::ffff:8.8.8.8", true)]
    [InlineData("64:ff9b::a00:1", false)]
    [InlineData("2002:a00:1::1", false)]
    [InlineData("2001:db8::1", false)]
    [InlineData("::10.0.0.1", false)]
    [InlineData("::8.8.8.8", false)]
    [InlineData("168.63.129.16", false)]
    [InlineData("168.63.129.17", true)]
    public void OnlyPublicAddresses_Pass(string address, bool isPublic) =>
        Assert.Equal(isPublic, PublicAddress.Is(IPAddress.Parse(address)));
}
