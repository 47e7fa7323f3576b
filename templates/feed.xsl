<?xml version="1.0" encoding="utf-8"?>
<!--
  Shows an Atom or RSS feed of hotpapers as a readable page when it is opened
  in a browser, with the feed's address to copy into a feed reader. Readers
  ignore this stylesheet. XSLT 1.0, no scripts, no remote resources.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    exclude-result-prefixes="atom">
  <xsl:output method="html" version="5.0" encoding="utf-8" indent="yes"
      doctype-system="about:legacy-compat"/>

  <xsl:variable name="title" select="/atom:feed/atom:title | /rss/channel/title"/>
  <xsl:variable name="subtitle" select="/atom:feed/atom:subtitle | /rss/channel/description"/>
  <xsl:variable name="self" select="/atom:feed/atom:link[@rel='self']/@href | /rss/channel/atom:link[@rel='self']/@href"/>
  <xsl:variable name="home" select="/atom:feed/atom:link[@rel='alternate']/@href | /rss/channel/link"/>

  <xsl:template match="/">
    <html>
      <xsl:attribute name="lang">
        <xsl:value-of select="/atom:feed/@xml:lang | /rss/channel/language"/>
      </xsl:attribute>
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="$title"/> (web feed)</title>
        <style>
          body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 46rem; padding: 1.5rem; color: #1d1d1f; background: #fff; }
          h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
          .subtitle { color: #555; margin-top: 0; }
          .about { background: #fff8dc; border: 1px solid #e6d9a8; border-radius: 6px; padding: 0.8rem 1rem; margin: 1.2rem 0; }
          .about code { display: block; margin: 0.5rem 0; padding: 0.4rem 0.6rem; background: #fff; border: 1px solid #ddd; border-radius: 4px; word-break: break-all; user-select: all; }
          ol { padding-left: 0; list-style: none; }
          li { border-top: 1px solid #eee; padding: 0.8rem 0; }
          li a { font-weight: 600; text-decoration: none; color: #0645ad; }
          li a:hover { text-decoration: underline; }
          .meta { color: #666; font-size: 0.9rem; }
          .summary { margin: 0.3rem 0 0; }
        </style>
      </head>
      <body>
        <h1><xsl:value-of select="$title"/></h1>
        <p class="subtitle"><xsl:value-of select="$subtitle"/></p>
        <div class="about">
          <strong>This is a web feed.</strong>
          Copy this address into your feed reader to get new entries as they are published:
          <code><xsl:value-of select="$self"/></code>
          New to feeds? A feed reader (NetNewsWire, Feedly, Inoreader, Thunderbird…) checks the
          address for you; nothing is sent to anyone.
          <xsl:if test="$home">
            The web site: <a href="{$home}"><xsl:value-of select="$home"/></a>.
          </xsl:if>
        </div>
        <ol>
          <xsl:apply-templates select="/atom:feed/atom:entry | /rss/channel/item"/>
        </ol>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="atom:entry">
    <li>
      <a href="{atom:link[@rel='alternate'][1]/@href}"><xsl:value-of select="atom:title"/></a>
      <div class="meta">
        <xsl:value-of select="substring(atom:updated, 1, 10)"/>
        <xsl:if test="atom:category">
          <xsl:text> · </xsl:text>
          <xsl:for-each select="atom:category">
            <xsl:if test="position() &gt; 1">, </xsl:if>
            <xsl:value-of select="@term"/>
          </xsl:for-each>
        </xsl:if>
      </div>
      <xsl:if test="atom:summary">
        <p class="summary"><xsl:value-of select="atom:summary"/></p>
      </xsl:if>
    </li>
  </xsl:template>

  <xsl:template match="item">
    <li>
      <a href="{link}"><xsl:value-of select="title"/></a>
      <div class="meta">
        <xsl:value-of select="pubDate"/>
        <xsl:if test="category">
          <xsl:text> · </xsl:text>
          <xsl:for-each select="category">
            <xsl:if test="position() &gt; 1">, </xsl:if>
            <xsl:value-of select="."/>
          </xsl:for-each>
        </xsl:if>
      </div>
    </li>
  </xsl:template>
</xsl:stylesheet>
