// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// Anchors checkpoints of Souk receipt logs. Each submitting address keeps its own latest
/// checkpoint per log origin, so nobody can block or overwrite another node's origin, and a
/// checkpoint is accepted only if its log grew.
contract SoukAnchor {
    struct Checkpoint {
        uint64 size;
        bytes32 root;
    }

    mapping(address => mapping(bytes32 => Checkpoint)) private checkpoints;

    event Anchored(address indexed submitter, bytes32 indexed originHash, uint64 size, bytes32 root);

    error SizeMustGrow(uint64 anchored, uint64 offered);

    /// Records (size, root) as the sender's latest checkpoint of `origin`.
    function anchor(string calldata origin, uint64 size, bytes32 root) external {
        bytes32 originHash = keccak256(bytes(origin));
        Checkpoint storage latest = checkpoints[msg.sender][originHash];
        if (size <= latest.size) {
            revert SizeMustGrow(latest.size, size);
        }
        latest.size = size;
        latest.root = root;
        emit Anchored(msg.sender, originHash, size, root);
    }

    /// The latest checkpoint `submitter` anchored for `origin`; (0, 0) if none.
    function checkpointOf(address submitter, string calldata origin)
        external
        view
        returns (uint64 size, bytes32 root)
    {
        Checkpoint storage latest = checkpoints[submitter][keccak256(bytes(origin))];
        return (latest.size, latest.root);
    }
}
