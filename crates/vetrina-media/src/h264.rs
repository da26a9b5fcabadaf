//! Just enough H.264 (ITU-T H.264) to record: split Annex B frames into NAL units, and read a
//! sequence parameter set's picture size. Input comes from publishers: never panics (fuzzed).

/// The NAL units of an Annex B frame (start codes `00 00 01` or `00 00 00 01`), without them.
pub fn nal_units(frame: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i + 3 <= frame.len() {
        if frame[i] == 0 && frame[i + 1] == 0 && frame[i + 2] == 1 {
            if let Some(s) = start {
                let mut end = i;
                while end > s && frame[end - 1] == 0 {
                    end -= 1;
                }
                if end > s {
                    units.push(&frame[s..end]);
                }
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    match start {
        Some(s) if s < frame.len() => units.push(&frame[s..]),
        None if !frame.is_empty() => units.push(frame),
        _ => {}
    }
    units
}

/// The NAL unit type (the low five bits of the first byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Reads bits most significant first, with Exp-Golomb codes; emulation prevention bytes removed.
struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn new(nal_payload: &[u8]) -> Bits {
        let mut data = Vec::with_capacity(nal_payload.len());
        let mut zeros = 0;
        for &b in nal_payload {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            data.push(b);
        }
        Bits { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)).min(u64::from(u32::MAX)) as u32)
    }

    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// The coded picture size a sequence parameter set (the whole NAL unit) describes, cropped.
pub fn sps_size(sps: &[u8]) -> Option<(u32, u32)> {
    if nal_type(sps) != 7 || sps.len() < 4 {
        return None;
    }
    let mut r = Bits::new(&sps[1..]);
    let profile_idc = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    if matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.bit()?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let n_lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..n_lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            let delta = r.se()?;
                            if !(-128..=127).contains(&delta) {
                                return None;
                            }
                            next = (last + delta).rem_euclid(256);
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()?.checked_add(1)?;
    let height_map_units = r.ue()?.checked_add(1)?;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut crop_left, mut crop_right, mut crop_top, mut crop_bottom) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        crop_left = r.ue()?;
        crop_right = r.ue()?;
        crop_top = r.ue()?;
        crop_bottom = r.ue()?;
    }
    let width = width_mbs.checked_mul(16)?;
    let height = height_map_units.checked_mul(16)?.checked_mul(2 - frame_mbs_only)?;
    let (crop_x, crop_y) = match chroma_format_idc {
        0 | 3 => (1, 2 - frame_mbs_only),
        2 => (2, 2 - frame_mbs_only),
        _ => (2, 2 * (2 - frame_mbs_only)),
    };
    // Crops come from the publisher: every step is checked (the fuzzer found an overflow here).
    let width = width.checked_sub(crop_left.checked_add(crop_right)?.checked_mul(crop_x)?)?;
    let height = height.checked_sub(crop_top.checked_add(crop_bottom)?.checked_mul(crop_y)?)?;
    (width > 0 && height > 0 && width <= 16384 && height <= 16384).then_some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_annex_b() {
        let frame = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5];
        let units = nal_units(&frame);
        assert_eq!(units, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]);
        assert_eq!(nal_type(units[2]), 5);
        assert!(nal_units(&[]).is_empty());
        assert_eq!(nal_units(&[0x41, 1]), vec![&[0x41, 1][..]]);
    }

    #[test]
    fn reads_picture_sizes() {
        // x264, 640x360 High profile (crop 8 lines at the bottom of 368).
        let sps_640x360 = [
            0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00,
            0x3c, 0x0f, 0x16, 0x2d, 0x96,
        ];
        assert_eq!(sps_size(&sps_640x360), Some((640, 360)));
        assert_eq!(sps_size(&[0x68, 1, 2, 3]), None);
        // The test peer's (vetrina-load) SPS: constrained baseline.
        assert!(sps_size(&[0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40]).is_some());
        // Found by the fuzzer: crops whose product overflows.
        let crash = include_bytes!("../testdata/sps-crop-overflow.bin");
        for nal in nal_units(crash) {
            let _ = sps_size(nal);
        }
        assert_eq!(sps_size(&[0x67]), None);
    }
}
