/** @type {import('next').NextConfig} */
const nextConfig = {
  // No telemetry, no image optimisation service: the example talks to Tessera and its API only.
  images: { unoptimized: true },
  poweredByHeader: false,
};
export default nextConfig;
