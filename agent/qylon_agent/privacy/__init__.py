"""What `qylon privacy` does: status, forget (crypto-erase), rotate the install key, seal
what was stored before encryption was on, and retention. The formats and keys are in
``qylon_agent.crypto``; docs/privacy.md tells what is and is not protected."""
