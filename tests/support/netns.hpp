// Test support: a network namespace of the test's own with a veth pair in it, for tests that send
// real packets (AF_XDP, XDP attach). Made with iproute2's `ip`, removed with everything in it when
// the object dies. IPv6 is off in it, so the links send nothing of their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tristate::test {

class VethNamespace {
 public:
  // Check ok() after constructing: when something fails (no root, no `ip`, no veth module),
  // error() says what.
  VethNamespace();
  ~VethNamespace();
  VethNamespace(const VethNamespace&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  const std::string& sender() const { return a_; }    // the link test traffic is sent from
  const std::string& receiver() const { return b_; }  // its peer, where the code under test listens

  // Moves the calling thread into the namespace until the Inside object dies (sockets made
  // meanwhile stay in the namespace).
  class Inside {
   public:
    explicit Inside(const VethNamespace& ns);
    ~Inside();
    Inside(const Inside&) = delete;
    bool ok() const { return ok_; }

   private:
    int home_ = -1;
    bool ok_ = false;
  };

 private:
  std::string name_, a_ = "tsa", b_ = "tsb", error_;
};

// A packet socket (AF_PACKET) on one end of a link, for sending test frames and reading the ones
// that arrive. Make it inside the namespace (VethNamespace::Inside); check ok().
class Wire {
 public:
  explicit Wire(const std::string& ifname);
  ~Wire();
  Wire(const Wire&) = delete;
  bool ok() const { return ok_; }
  bool send(const std::vector<uint8_t>& frame);
  // The next frame that arrived on the link (not one this end sent), or nothing within `ms`.
  std::optional<std::vector<uint8_t>> receive(int ms);

 private:
  int fd_ = -1;
  unsigned ifindex_ = 0;
  bool ok_ = false;
};

}  // namespace tristate::test
